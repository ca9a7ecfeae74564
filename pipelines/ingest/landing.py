"""Shared landing: a loader's batch -> quarantine or raw_pings, each row accounted for once.

Every loader builds a temp view (or table) `batch` with the columns
    load_id, ln, location, raw, reason, instance_id_type, instance_id, received_at_text, ip, <FIELDS...>
(reason is a structural problem the loader saw, e.g. 'not_json'; instance_id_type is the JSON
type of instanceId, 'VARCHAR' for a text column, NULL when absent) and calls land(). `raw` may
be NULL when the loader passes `raw_sql`, an expression over the batch columns that rebuilds
the row's text: it is evaluated for quarantined rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from ..fields import FIELDS, quoted

#: every quarantine reason, in the order the rules are checked
REASONS = [
    "not_json",
    "not_object",
    "instance_id_missing",
    "instance_id_not_string",
    "instance_id_empty",
    "instance_id_too_long",
    "received_at_missing",
    "received_at_unparseable",
    "csv_malformed",
]

# address-looking runs in quarantined raw text are blanked (RE2 has no look-around, so the
# neighbouring characters are captured and put back); IPv6 needs '::' or six or more groups
_SCRUB = [
    (r"(^|[^0-9.])(?:\d{1,3}\.){3}\d{1,3}($|[^0-9.])", r"\1<ip>\2"),
    (r"(^|[^0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4})*::[0-9A-Fa-f:.]*($|[^0-9A-Za-z:])", r"\1<ip>\2"),
    (r"(^|[^0-9A-Za-z:])(?:[0-9A-Fa-f]{1,4}:){5,7}[0-9A-Fa-f]{1,4}($|[^0-9A-Za-z:])", r"\1<ip>\2"),
]


def scrub_sql(expr: str) -> str:
    """Return SQL that blanks plain IPv4/IPv6 addresses inside the text expression."""
    for pattern, repl in _SCRUB:
        expr = f"regexp_replace({expr}, '{pattern}', '{repl}', 'g')"
    return expr


CLASSIFY = """
create or replace temp table classified as
with batch_rows as (
    select *, try_cast(trim(received_at_text) as timestamptz) as received_tz from batch
),
checked as (
    select
        * exclude (received_tz),
        case
            when reason is not null then reason
            when instance_id_type is null or instance_id_type = 'NULL' then 'instance_id_missing'
            when instance_id_type <> 'VARCHAR' then 'instance_id_not_string'
            when trim(instance_id) = '' then 'instance_id_empty'
            when length(instance_id) > 256 then 'instance_id_too_long'
            when received_at_text is null or trim(received_at_text) = '' then 'received_at_missing'
            when received_tz is null then 'received_at_unparseable'
        end as final_reason,
        -- UTC (session time zone), truncated to milliseconds: half of a ping's identity
        date_trunc('millisecond', cast(received_tz as timestamp)) as received_ts
    from batch_rows
)
select * from checked
"""

QUARANTINE = """
insert into quarantine
select
    load_id, $source, location, final_reason,
    """ + scrub_sql("coalesce(raw, {raw_sql})") + """,
    cast(received_ts as date)
from classified
where final_reason is not null
"""

FIELD_COLUMNS = ", ".join(quoted(f) for f in FIELDS)

LAND = f"""
insert into raw_pings
with valid as (
    select * from classified where final_reason is null
),
first_in_batch as (
    {{first_in_batch}}
),
bounds as (
    select min(received_ts) as lo, max(received_ts) as hi from first_in_batch
),
already as (
    select r.instance_id, r.received_at
    from raw_pings r, bounds
    where r.received_at between bounds.lo and bounds.hi
),
new_pings as (
    select f.* from first_in_batch f
    anti join already a on a.instance_id = f.instance_id and a.received_at = f.received_ts
)
select load_id, $source, location, received_ts, instance_id, ip_key(ip), {FIELD_COLUMNS}
from new_pings
"""


def flat_columns(col) -> str:
    """Return the batch columns from instance_id_type on, for a source with one column per dotted key.

    `col(name)` gives the SQL expression holding a canonical column (created_at, instanceId, ip or a
    field), or "null::varchar" when the source lacks it.
    """
    fields = ",\n        ".join(f"{col(f)} as {quoted(f)}" for f in FIELDS)
    return f"""case when {col('instanceId')} is not null then 'VARCHAR' end as instance_id_type,
        {col('instanceId')} as instance_id,
        {col('created_at')} as received_at_text,
        {col('ip')} as ip,
        {fields}"""


def flat_raw_sql(names: list[tuple[str, str]]) -> str:
    """Return SQL rebuilding a quarantined flat row as JSON, from (label, canonical name) pairs.

    It reads the batch's columns (so the address is keyed) and is evaluated for quarantined rows only.
    """
    batch_column = {"created_at": "received_at_text", "instanceId": "instance_id", "ip": "ip_key(ip)"}
    pairs = [
        f"'{label.replace(chr(39), chr(39) * 2)}', {batch_column.get(name, quoted(name))}"
        for label, name in names
        if name in batch_column or name in FIELDS
    ]
    return "json_object(" + ", ".join(pairs) + ")::varchar" if pairs else "null"


DEDUPE_IN_BATCH = """select * from valid
    qualify row_number() over (partition by instance_id, received_ts order by load_id, ln) = 1"""


@dataclass
class Counts:
    """What one landing did with its rows: read = loaded + duplicates + quarantined."""

    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.read + other.read, self.loaded + other.loaded,
                      self.duplicates + other.duplicates, self.quarantined + other.quarantined)

    def __iadd__(self, other: "Counts") -> "Counts":
        self.read += other.read
        self.loaded += other.loaded
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        return self


def land(con: duckdb.DuckDBPyConnection, source: str, raw_sql: str = "null") -> dict[int, Counts]:
    """Land `batch`: quarantine bad rows, insert new pings; return the counts of each load_id in it."""
    con.execute(CLASSIFY)
    per_load = {
        load_id: Counts(read=read, quarantined=bad)
        for load_id, read, bad in con.execute(
            "select load_id, count(*), count(final_reason) from classified group by load_id"
        ).fetchall()
    }
    params = {"source": source}
    if any(c.quarantined for c in per_load.values()):
        con.execute(QUARANTINE.replace("{raw_sql}", raw_sql), params)
    repeats = con.execute(
        "select count(*) - count(distinct (instance_id, received_ts)) from classified where final_reason is null"
    ).fetchall()[0][0]
    # the same ping twice in one batch is rare: only then pay for the window that keeps the first
    first = (DEDUPE_IN_BATCH if repeats else "select * from valid")
    con.execute(LAND.replace("{first_in_batch}", first), params)
    if per_load:
        for load_id, loaded in con.execute(
            "select load_id, count(*) from raw_pings where load_id between $1 and $2 group by load_id",
            [min(per_load), max(per_load)],
        ).fetchall():
            if load_id in per_load:
                per_load[load_id].loaded = loaded
    for c in per_load.values():
        c.duplicates = c.read - c.quarantined - c.loaded
    con.execute("drop table if exists classified")
    return per_load
