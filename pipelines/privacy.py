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
import re
import secrets
from pathlib import Path

KEYED_RE = r"[0-9a-f]{64}"
LEGACY_RE = r"[A-Za-z0-9+/]{43}="

#: shortest key accepted, in bytes
MIN_KEY_BYTES = 16

#: address-shaped runs (the ONE list, used by scrub, scrub_sql and has_address_sql). RE2 (DuckDB) has no
#: look-around, so the neighbouring characters are captured and put back; IPv4 after a dot counts when a
#: non-digit precedes the dot (a dotted key such as `platform.counts.10.9.8.7`, not a version `1.10.9.8.7`);
#: IPv6 needs '::' or six or more groups
ADDRESS_PATTERNS = [
    r"(^|[^0-9.]|[^0-9.]\.)(?:\d{1,3}\.){3}\d{1,3}($|[^0-9.]|\.$|\.[^0-9])",
    r"(^|[^0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4})*::[0-9A-Fa-f:.]*($|[^0-9A-Za-z:])",
    r"(^|[^0-9A-Za-z:])(?:[0-9A-Fa-f]{1,4}:){5,7}[0-9A-Fa-f]{1,4}($|[^0-9A-Za-z:])",
]
#: `ip` texts that stand for "no address" (the collector stores `unknown` when its event has none); with
#: empty and whitespace-only texts they get no hash (NULL), so they never count as an address
PLACEHOLDERS = ["unknown"]
#: what an address is replaced by in scrubbed text
BLANK = "<ip>"
_COMPILED = [re.compile(p) for p in ADDRESS_PATTERNS]
#: one pattern matching any address-shaped run (for tests: does a value contain an address?)
ANY_ADDRESS = "|".join(f"(?:{p})" for p in ADDRESS_PATTERNS)


class BadKey(ValueError):
    """The IP-hash key is unusable (empty, short, or not the key the warehouse was built with); one line."""


def scrub(text: str) -> str:
    """Return the text with every address-shaped run replaced by <ip> (for stored or printed errors)."""
    text = str(text)
    for pattern in _COMPILED:
        # a replaced run consumes its neighbour characters, so adjacent addresses need a second pass
        for _ in range(2):
            text = pattern.sub(lambda m: m.group(1) + BLANK + m.group(2), text)
    return text


def scrub_sql(expr: str) -> str:
    """Return SQL that blanks plain IPv4/IPv6 addresses inside the text expression."""
    for pattern in ADDRESS_PATTERNS:
        for _ in range(2):
            expr = f"regexp_replace({expr}, '{pattern}', '\\1{BLANK}\\2', 'g')"
    return expr


def has_address_sql(expr: str) -> str:
    """Return a SQL boolean: does the text expression contain an address-shaped run (NULL stays NULL)."""
    return f"regexp_matches({expr}, '{ANY_ADDRESS}')"


def check_key(key: bytes, where: str = "PINGS_IP_HASH_KEY (or the key file PINGS_IP_HASH_KEY_FILE)") -> bytes:
    """Return the key when it is at least MIN_KEY_BYTES long, else raise BadKey naming the setting."""
    if len(key) < MIN_KEY_BYTES:
        what = "empty" if not key else f"only {len(key)} bytes"
        raise BadKey(f"{where}: the IP-hash key is {what}; allowed: at least {MIN_KEY_BYTES} bytes"
                     " (delete the setting to have a random key file created)")
    return key


def fingerprint(key: bytes) -> str:
    """Return a short, non-reversible fingerprint of the key (to recognise it, never to recover it)."""
    return "sha256:" + hashlib.sha256(b"flowforge-pings key fingerprint\0" + key).hexdigest()[:16]


def load_key(key_text: str | None, key_file: Path) -> bytes:
    """Return the secret: key_text if given, else the key file's content (created 0600 on first use).

    Raises BadKey for a key under MIN_KEY_BYTES (an empty key file included).
    """
    if key_text is not None and key_text != "":
        return check_key(key_text.encode(), "PINGS_IP_HASH_KEY (ip_hash_key)")
    key_file = Path(key_file)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return check_key(key_file.read_text().strip().encode(), f"PINGS_IP_HASH_KEY_FILE ({key_file})")


def legacy_hash(ip: str) -> str:
    """Return the legacy unkeyed form of an address: base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(ip.strip().encode()).digest()).decode()


def ip_key(ip: str, key: bytes) -> str:
    """Return the keyed hash (64 hex digits) of a plain address."""
    return hmac.digest(key, legacy_hash(ip).encode(), "sha256").hex()     # one C call; same as hmac.new(...).hexdigest()


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
    when {is_placeholder_sql("v")} then null
    when regexp_full_match(trim(v), '{KEYED_RE}') then trim(v)
    when regexp_full_match(trim(v), '{LEGACY_RE}') then {hmac_of.format(m='trim(v)')}
    else {hmac_of.format(m=legacy)}
  end
"""


def is_placeholder_sql(expr: str) -> str:
    """Return a SQL boolean: the `ip` text expression is NULL, empty, whitespace only or a placeholder (`unknown`, any case)."""
    words = "|".join(PLACEHOLDERS)
    return f"regexp_full_match(coalesce({expr}, ''), '\\s*({words})?\\s*', 'i')"


def secret_for(settings) -> bytes:
    """Return the secret named by the settings."""
    return load_key(settings.ip_hash_key, settings.ip_hash_key_file)
