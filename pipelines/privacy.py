"""The keyed IP hash: one rule, used by the collector (Python) and the loaders (SQL macro).

key(ip) = HMAC-SHA256(secret, legacy(ip)) as 64 lowercase hex digits, where
legacy(ip) = base64(SHA-256(ip)) is the unkeyed form FlowForge's collector stored until
mid 2024. Hashing a plain address into the legacy form first makes one address give the
same key whether it arrived plain (2024 on) or pre-hashed (before).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEYED_RE = r"[0-9a-f]{64}"
LEGACY_RE = r"[A-Za-z0-9+/]{43}="


def load_key(key_text: str | None, key_file: Path) -> bytes:
    """Return the secret: key_text if given, else the key file's content (created 0600 on first use)."""
    if key_text:
        return key_text.encode()
    key_file = Path(key_file)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return key_file.read_text().strip().encode()


def legacy_hash(ip: str) -> str:
    """Return the legacy unkeyed form of an address: base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(ip.strip().encode()).digest()).decode()


def ip_key(ip: str, key: bytes) -> str:
    """Return the keyed hash (64 hex digits) of a plain address."""
    return hmac.new(key, legacy_hash(ip).encode(), hashlib.sha256).hexdigest()


def sql_macro(key: bytes) -> str:
    """Return SQL creating the temp macro ip_key(v): any stored ip form -> keyed hash, NULL stays NULL.

    64 hex digits are already keyed and kept; a legacy base64 SHA-256 is keyed as it is;
    anything else (a plain address) is hashed into the legacy form first, then keyed.
    The macro is temporary, so the key never reaches the warehouse file.
    """
    padded = key if len(key) <= 64 else hashlib.sha256(key).digest()
    padded = padded.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in padded).hex()
    opad = bytes(b ^ 0x5C for b in padded).hex()
    hmac_of = (
        "sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode({m}))))"
    ).format(opad=opad, ipad=ipad, m="{m}")
    legacy = "to_base64(unhex(sha256(trim(v))))"
    return f"""
create or replace temp macro ip_key(v) as
  case
    when v is null or trim(v) = '' then null
    when regexp_full_match(trim(v), '{KEYED_RE}') then trim(v)
    when regexp_full_match(trim(v), '{LEGACY_RE}') then {hmac_of.format(m='trim(v)')}
    else {hmac_of.format(m=legacy)}
  end
"""


def secret_for(settings) -> bytes:
    """Return the secret named by the settings."""
    return load_key(settings.ip_hash_key, settings.ip_hash_key_file)
