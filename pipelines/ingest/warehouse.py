"""The DuckDB warehouse: connection settings and the landing tables (raw pings, quarantine, load log)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from .. import privacy, profile
from ..fields import FIELDS, quoted

SCHEMA = f"""
create table if not exists raw_pings (
    load_id     integer   not null,  -- load_log.load_id that landed it
    source      varchar   not null,  -- the source as configured, its label (sources.label: no address, no password)
    location    varchar   not null,  -- file:line, or table@created_at/instanceId (labels too)
    received_at timestamp not null,  -- UTC, millisecond precision; with instance_id the ping's identity
    instance_id varchar   not null,
    ip_hash     varchar,             -- keyed HMAC-SHA256 hex; never a plain address
    {", ".join(f"{quoted(f)} varchar" for f in FIELDS)}
);
create table if not exists quarantine (
    load_id     integer not null,
    source      varchar not null,
    location    varchar not null,
    reason      varchar not null,
    raw         varchar,             -- the line or row as read, addresses replaced by their keyed hash
    received_on date                 -- UTC day of the row when its time could be read
);
create table if not exists load_log (
    load_id     integer primary key,
    source      varchar not null,
    item        varchar not null,    -- file path or table name
    started_at  timestamp not null,  -- UTC
    finished_at timestamp,           -- UTC
    rows_read   bigint default 0,    -- = loaded + duplicates + quarantined (pending is kept in source_state)
    loaded      bigint default 0,
    duplicates  bigint default 0,
    quarantined bigint default 0,
    note        varchar
);
create table if not exists source_state (
    source      varchar not null,
    item        varchar not null,
    bytes_done  bigint default 0,    -- bytes of complete lines consumed
    rows_done   bigint default 0,    -- lines (JSONL) or data rows (CSV) consumed
    size        bigint,              -- file size when last read
    mtime       double,
    head_sha    varchar,             -- fingerprint of the consumed part
    pending     bigint default 0,    -- torn final lines left for a later refresh
    watermark   varchar,             -- PostgreSQL: largest created_at read (UTC)
    status      varchar default 'ok',-- ok | changed | error
    message     varchar,
    last_loaded_at timestamp,        -- UTC
    primary key (source, item)
);
create sequence if not exists load_id_seq;
-- columns added after the first release (older warehouses get them here)
alter table raw_pings add column if not exists payload_shape bigint;    -- payload_shapes.shape: the keys the payload carried
alter table source_state add column if not exists simulated boolean;    -- the source is a simulated fleet (SIMULATED file)
alter table source_state add column if not exists time_zone varchar;    -- zone a created_at without one was read in
alter table load_log add column if not exists ip_placeholders bigint default 0;  -- loaded pings whose ip was no
                                                                        -- address (`unknown`, empty): no hash
create table if not exists blanked_values (
    load_id     integer not null,
    source      varchar not null,
    location    varchar not null,
    field       varchar not null      -- dotted field whose address-shaped value was blanked (NULL in raw_pings)
);
create table if not exists payload_shapes (
    shape       bigint primary key,   -- >= 0: bitmask over landing.KEY_NAMES (flat sources); < 0: ping-log hash
                                      -- of the keys at the known objects, or of a walked line's key list
    keys        varchar[] not null    -- sorted distinct dotted leaf keys a payload of this shape carries
);
create table if not exists pg_seen (
    source      varchar not null,
    item        varchar not null,     -- table name
    location    varchar not null,     -- table@created_at/instanceId of a row already read (an address-shaped
                                      -- instanceId is blanked and tagged, sources.postgres.location_sql)
    created_at  timestamptz           -- its stamp; rows behind the re-read window are pruned
);
create table if not exists warehouse_meta (
    name        varchar primary key,
    value       varchar
);
"""


def connect(path: Path | str, read_only: bool = False, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (created with its tables when new) with UTC session time."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = {"autoinstall_known_extensions": "false"}
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = profile.wrap(duckdb.connect(str(path), read_only=read_only, config=config))
    con.execute("set TimeZone = 'UTC'")
    if not read_only:
        con.execute(SCHEMA)
    return con


def insert_rows(con, table: str, columns: dict[str, str], rows: list[list], constants: dict[str, str] | None = None,
                replace: bool = False) -> None:
    """Insert rows (lists in the order of columns: name -> DuckDB type) into table in one statement.

    Each column travels as one typed list parameter and the lists are unnested together (executemany
    would run one statement per row: 0.7 s for a year of daily files). constants: name -> SQL expression
    of columns filled the same for every row (now()); replace: insert or replace (tables with a key).
    """
    if not rows:
        return
    names = [*columns, *(constants or {})]
    values = [f"unnest(${i}::{kind}[])" for i, kind in enumerate(columns.values(), 1)] + list((constants or {}).values())
    verb = "insert or replace" if replace else "insert"
    con.execute(f"{verb} into {table} ({', '.join(names)}) select {', '.join(values)}",
                [list(column) for column in zip(*rows)])


def check_key(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Record the key's fingerprint on first use; raise privacy.BadKey when the warehouse has another."""
    privacy.check_key(key)
    mine = privacy.fingerprint(key)
    rows = con.execute("select value from warehouse_meta where name = 'ip_hash_key_fingerprint'").fetchall()
    if not rows:
        con.execute("insert into warehouse_meta values ('ip_hash_key_fingerprint', $1)", [mine])
        return
    if rows[0][0] != mine:
        raise privacy.BadKey(
            f"this warehouse was built with another IP-hash key (fingerprint {rows[0][0]}, the key set now has"
            f" {mine}): new hashes would not match the stored ones. Set PINGS_IP_HASH_KEY or"
            " PINGS_IP_HASH_KEY_FILE back to the original key, or start a new warehouse (PINGS_WAREHOUSE)"
            " to rebuild everything under the new key")


#: the columns naming a source, file or table (stored as sources.label since labels were introduced)
LABELLED = {"source_state": ["source", "item"], "load_log": ["source", "item"], "pg_seen": ["source", "item"],
            "raw_pings": ["source"], "quarantine": ["source"], "blanked_values": ["source"]}

# a re-read row's location whose instanceId is address-shaped: blanked and tagged as the loader now writes it
RELABEL_PG_SEEN = f"""
update pg_seen set location = regexp_extract(location, '^([^@]*@[^/]*)/', 1) || '/'
    || {privacy.scrub_sql("regexp_extract(location, '^[^@]*@[^/]*/(.*)$', 1)")}
    || ' #' || left(ip_key(regexp_extract(location, '^[^@]*@[^/]*/(.*)$', 1)), $1)
where {privacy.has_address_sql("location")}
"""


def relabel(con: duckdb.DuckDBPyConnection) -> None:
    """Once per warehouse: store the names written before labels as their labels (no address; the
    ip_key macro must be on the connection), so file states and watermarks carry on under the new names."""
    from .sources import TAG_DIGITS, label

    if con.execute("select count(*) from warehouse_meta where name = 'labels'").fetchall()[0][0]:
        return
    for table, columns in LABELLED.items():
        for column in columns:
            for (name,) in con.execute(f"select distinct {column} from {table}").fetchall():
                if label(con, name) != name:
                    con.execute(f"update {table} set {column} = $1 where {column} = $2", [label(con, name), name])
    con.execute(RELABEL_PG_SEEN, [TAG_DIGITS])
    con.execute("insert into warehouse_meta values ('labels', '1')")


def simulated(con: duckdb.DuckDBPyConnection) -> bool:
    """Return True when any source loaded into the warehouse is a simulated fleet."""
    return bool(con.execute("select coalesce(bool_or(simulated), false) from source_state").fetchall()[0][0])
