"""FlowFuse's own collector table, built by its migrations and filled as its handler fills it.

Written from the facts in shared/reference/PINGS.md (no code of FlowFuse's): the table is made by
the migration sequence, in file-name order, each migration run when its date comes, so rows stored
before an `ADD COLUMN ... DEFAULT 0` are backfilled with 0 by PostgreSQL itself. The handler's INSERT
names every allow-listed column of its era (the table's columns but the stamp), so a key the ping
lacks is an explicit NULL. `ip` is the base64 SHA-256 of the address until mid 2024, the plain
address after, and `unknown` when the event had no address. created_at is `timestamp without time
zone`: a row inserted with `at=None` gets the database's CURRENT_TIMESTAMP, as the handler's do; a row
given a past time gets the value CURRENT_TIMESTAMP would have had then, in the session's time zone.
A CSV export is made by psql, `\\copy pings TO ... CSV HEADER`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import adbc_driver_postgresql.dbapi as pg

from pgserver import find_bin

TEXT = "varchar"
COUNTS = ["projects", "teams", "users", "devices", "projectSnapshots", "projectStacks", "projectTemplates"]
FLAGS = ["broker", "email", "fileStore"]

#: (migration file name, the date it ran, its statements), in file-name order (PINGS.md)
MIGRATIONS: list[tuple[str, str, list[str]]] = [
    ("00000000", "2022-01-01", [
        'create table pings ("createdAt" timestamp not null, "weekYear" varchar(12), "weekStartDate" timestamp,'
        ' "instanceId" varchar(256) not null, ip varchar(256), "isDev" boolean,'
        f' "env.flowforge" {TEXT}, "env.nodejs" {TEXT}, "os.arch" {TEXT}, "os.release" {TEXT}, "os.type" {TEXT},'
        ' "platform.config.driver" varchar(32), '
        + ", ".join(f'"platform.counts.{c}" integer' for c in COUNTS) + ", "
        + ", ".join(f'"platform.config.{f}.enabled" boolean' for f in FLAGS) + ")",
    ]),
    ("20230105", "2023-01-05", [
        'alter table pings rename column "createdAt" to created_at',
        "alter table pings alter column created_at set default current_timestamp",
    ]),
    ("20230106", "2023-01-06", ['alter table pings drop column "weekYear", drop column "weekStartDate"']),
    ("20230107", "2023-01-07", ['alter table pings drop column "isDev"',
                                'alter table pings add primary key (created_at, "instanceId")']),
    ("20230117", "2023-01-17", ['alter table pings add column "platform.counts.libraryEntries" integer,'
                                ' add column "platform.counts.sharedLibraryEntries" integer']),
    ("20230224", "2023-02-24", ['alter table pings add column "platform.license.id" varchar(256),'
                                ' add column "platform.license.type" varchar(16)']),
    ("20230427", "2023-04-27", [
        'alter table pings add column "platform.counts.projects.suspended" integer',   # older rows stay NULL
        'alter table pings alter column "platform.counts.projects.suspended" set default 0',
    ]),
    ("20230504", "2023-05-04", ['alter table pings rename column "platform.counts.projects.suspended"'
                                ' to "platform.counts.projectsByState.suspended"']),
    ("20240716", "2024-07-16", ['alter table pings add column "platform.counts.blueprints" integer default 0']),
    ("20241028", "2024-10-28", ['alter table pings add column "platform.counts.teamBrokerClients" integer default 0']),
    ("20250228", "2025-02-28", [
        'alter table pings add column "platform.counts.devicesByLastSeen.never" integer default 0,'
        ' add column "platform.counts.devicesByLastSeen.day" integer default 0,'
        ' add column "platform.counts.remoteBrokers" integer default 0',
    ]),
]

#: the day the collector began to store the plain address instead of its unkeyed hash ("mid 2024")
PLAIN_IP_FROM = "2024-07-01"
#: the first table's columns the handler computed itself; the stamp is named by every era's INSERT only
#: while it has no default (the first era)
OWN = {"createdAt", "created_at", "weekYear", "weekStartDate", "isDev"}
#: a column's name before a rename -> the payload key it holds
OLD_KEYS = {"platform.counts.projects.suspended": "platform.counts.projectsByState.suspended"}


@dataclass
class Ping:
    """One accepted ping: the UTC time the handler ran (None: now), the payload, the sender address or None."""

    at: str | None
    payload: dict
    address: str | None = "198.51.100.20"


def legacy(address: str) -> str:
    """Return the unkeyed base64 SHA-256 of an address (the collector's `ip` until mid 2024)."""
    return base64.b64encode(hashlib.sha256(address.encode()).digest()).decode()


def stored_ip(ping: Ping) -> str:
    """Return the `ip` text the handler stores for a ping: `unknown`, the legacy hash or the plain address."""
    if ping.address is None:
        return "unknown"
    if ping.at is not None and ping.at[:10] < PLAIN_IP_FROM:
        return legacy(ping.address)
    return ping.address


def value(payload: dict, key: str):
    """Return the value at a dotted key of a nested payload, or None when the ping lacks it."""
    node = payload
    for part in OLD_KEYS.get(key, key).split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def as_text(v) -> str | None:
    """Return a payload value as the text bound for its column (None stays NULL; booleans true/false)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v)


def columns(cur) -> list[tuple[str, str]]:
    """Return the pings table's (column, data type), in table order."""
    cur.execute("select column_name, data_type from information_schema.columns where table_name = 'pings'"
                " order by ordinal_position")
    return [(name, kind) for name, kind in cur.fetchall()]


def insert(cur, ping: Ping) -> None:
    """Insert one ping as the handler of the table's current era does: every allow-listed column named."""
    cols = columns(cur)
    allowed = [(c, t) for c, t in cols if c not in OWN]
    names = ["instanceId", "ip"]
    values: list = [value(ping.payload, "instanceId"), stored_ip(ping)]
    casts = ["$1::text", "$2::text"]
    for c, t in allowed:
        if c in ("instanceId", "ip"):
            continue
        names.append(c)
        values.append(as_text(value(ping.payload, c)))
        casts.append(f"${len(values)}::text::{'varchar' if t == 'character varying' else t}")
    stamp = next(c for c, _ in cols if c in ("createdAt", "created_at"))
    if stamp == "createdAt" or ping.at is not None:
        # the value the database's CURRENT_TIMESTAMP (or the first era's handler) gives at that time,
        # as a timestamp without time zone: the wall time in the session's zone
        names.append(stamp)
        values.append(ping.at or datetime.now().astimezone().isoformat())
        casts.append(f"${len(values)}::text::timestamptz::timestamp")
    if stamp == "createdAt":
        names += ["weekYear", "weekStartDate", "isDev"]
        values += [week_year(ping.at), str(week_start(ping.at)), str(is_dev(ping.payload)).lower()]
        casts += [f"${len(values) - 2}::text", f"${len(values) - 1}::text::timestamp", f"${len(values)}::text::boolean"]
    quoted = ", ".join('"' + n + '"' for n in names)
    cur.execute(f"insert into pings ({quoted}) values ({', '.join(casts)})", tuple(values))


def week_start(at: str) -> date:
    """Return the Monday of the UTC week a time falls in."""
    day = date.fromisoformat(at[:10])
    return day - timedelta(days=day.weekday())


def week_year(at: str) -> str:
    """Return the ISO week of a time as YYYY-Www."""
    year, week, _ = date.fromisoformat(at[:10]).isocalendar()
    return f"{year}-W{week:02d}"


def is_dev(payload: dict) -> bool:
    """Return whether the sender's version is a development build (a -git suffix)."""
    return str(value(payload, "env.flowforge") or "").endswith("-git")


def build(uri: str, pings: list[Ping], upto: str = "9999-12-31") -> None:
    """Create the table by every migration dated up to `upto`, each pings stamped before it inserted first."""
    with pg.connect(uri) as conn:
        pending = sorted(pings, key=lambda p: p.at or "9999")
        for name, ran, statements in MIGRATIONS:
            if ran > upto:
                break
            with conn.cursor() as cur:
                while pending and pending[0].at is not None and pending[0].at[:10] < ran and name != "00000000":
                    insert(cur, pending.pop(0))
                for statement in statements:
                    cur.execute(statement)
            conn.commit()
        fill(conn, pending)


def fill(conn, pings: list[Ping]) -> None:
    """Insert pings into the table as it is now, one transaction."""
    with conn.cursor() as cur:
        for ping in pings:
            insert(cur, ping)
    conn.commit()


def add(uri: str, pings: list[Ping]) -> None:
    """Insert more pings into the table as it is now."""
    with pg.connect(uri) as conn:
        fill(conn, pings)


def migrate(uri: str, *statements: str) -> None:
    """Run a new migration (statements) on the table."""
    with pg.connect(uri) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        conn.commit()


def export(uri: str, path: Path, query: str = "pings") -> Path:
    """Write `\\copy <query> TO path CSV HEADER` with the real psql; return the path."""
    psql = find_bin("psql")
    target = query if query == "pings" else f"({query})"
    subprocess.run([psql, uri, "-v", "ON_ERROR_STOP=1", "-q", "-c", f"\\copy {target} to '{path}' csv header"],
                   check=True, capture_output=True, timeout=120)
    return path


def log_line(ping: Ping) -> str:
    """Return the ping as this project's collector logs it (the address given plain; landing keys it)."""
    line = {"received_at": ping.at, "payload": ping.payload}
    if ping.address is not None:
        line["ip_hash"] = ping.address
    return json.dumps(line)
