"""Shared landing: a loader's batch -> quarantine or raw_pings, each row accounted for once.

Every loader builds a temp view (or table) `batch` with the columns
    load_id, ln, location, raw, reason, instance_id_type, instance_id, received_at_text, ip, payload_shape, <FIELDS...>
(reason is a structural problem the loader saw, e.g. 'not_json'; instance_id_type is the JSON
type of instanceId, 'VARCHAR' for a text column, NULL when absent; payload_shape names the set of
dotted leaf keys the payload carried, stored once in `payload_shapes(shape, keys)`: a shape >= 0
is a bitmask over KEY_NAMES (flat sources: the known columns that are non-null; land() adds those),
a negative shape is the loader's own (the ping-log loader adds its shapes in its fixup; a flat source
with columns it does not know gives a row carrying any of them a negative shape, see flat_columns))
and calls land(). `raw` may be NULL: a flat loader's fixup (flat_fixup) rebuilds the text of the
quarantined rows from their columns, so it is made for those rows only.

Text rules, the same for every source: an empty string is a value (it stays '' in raw_pings and its
key is in the payload's keys; staging reads it as absent); NULL is absence (a JSON null, an absent
key, a NULL column, an unquoted empty CSV field). An `ip` that is empty, whitespace or `unknown` is
no address: it gets no hash (privacy.is_placeholder_sql) and is counted per load (ip_placeholders).

The time window (settings received_at_min, received_at_max_ahead_days) lives in session variables
set by configure(); land() sets them from the settings when the caller has not.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from ..fields import COLLECTOR_ONLY, FIELDS, lit, quoted
from ..privacy import has_address_sql, scrub, scrub_sql

#: every quarantine reason, in the order the rules are checked
REASONS = [
    "not_json",
    "not_utf8",
    "line_too_long",
    "not_object",
    "instance_id_missing",
    "instance_id_not_string",
    "instance_id_empty",
    "instance_id_too_long",
    "instance_id_address_shaped",
    "received_at_missing",
    "received_at_unparseable",
    "received_at_out_of_range",
    "csv_malformed",
]

# a UTC offset beyond +-18:00 after a clock time (DuckDB would accept +19:00 or +99)
_BAD_OFFSET = r"\d:\d\d(:\d\d(\.\d*)?)?\s*[+-]((19|2\d|[3-9]\d)(:?\d\d)?|18:?(0[1-9]|[1-5]\d))\s*$"

# every text that reaches raw_pings, joined: one address test per row, the per-field tests only when it hits
# (payload keys are tested once per shape, when the shape is stored)
_ALL_TEXT = "concat_ws(chr(31), instance_id, " + ", ".join(
    quoted(f) for f in FIELDS) + ")"
_BLANKED = "list_filter([" + ", ".join(
    f"case when {has_address_sql(quoted(f))} then '{f}' end" for f in FIELDS) + "], lambda x: x is not null)"


def configure(con: duckdb.DuckDBPyConnection, settings) -> None:
    """Set the landing settings on a connection: the time window and the PostgreSQL re-read window.

    Window: [received_at_min 00:00 UTC, load time + received_at_max_ahead_days].
    """
    con.execute("set variable pings_received_min = cast($1 as date)::timestamp", [str(settings.received_at_min)])
    con.execute("set variable pings_received_ahead_days = cast($1 as integer)", [int(settings.received_at_max_ahead_days)])
    con.execute("set variable pings_pg_reread_minutes = cast($1 as integer)", [int(settings.pg_reread_minutes)])
    con.execute("set variable pings_pg_time_zone = cast($1 as varchar)", [settings.pg_time_zone])
    con.execute("set variable pings_csv_time_zone = cast($1 as varchar)", [settings.csv_time_zone])


def ensure_configured(con: duckdb.DuckDBPyConnection) -> None:
    """Configure the connection from the settings (file and PINGS_* variables) unless configure() ran on it."""
    if con.execute("select getvariable('pings_received_min') is null").fetchall()[0][0]:
        from .. import settings as settings_mod

        configure(con, settings_mod.load())


def setting(con: duckdb.DuckDBPyConnection, name: str):
    """Return a landing setting configure() put on the connection (pg_time_zone, csv_time_zone, ...)."""
    ensure_configured(con)
    return con.execute("select getvariable($1)", [f"pings_{name}"]).fetchall()[0][0]


# a time written with a UTC offset (Z, +02, -05:30, +0530) after its clock time
_HAS_OFFSET = r"\d:\d\d(:\d\d(\.\d*)?)?\s*([zZ]|[+-]\d{1,2}(:?\d\d)?(:\d\d)?)\s*$"


def zoned_sql(expr: str, zone: str) -> str:
    """Return SQL for a time text read in `zone` when it has no UTC offset, as UTC text; other texts unchanged.

    An unparseable or infinite text stays as it is (the landing rules quarantine it).
    """
    local = f"try_cast(trim({expr}) as timestamp)"
    zone_sql = lit(zone)
    return (f"case when coalesce(regexp_matches({expr}, '{_HAS_OFFSET}') or not isfinite({local}), true) then {expr}"
            f" else strftime(timezone({zone_sql}, {local}), '%Y-%m-%d %H:%M:%S.%f+00') end")


def in_window_sql(expr: str) -> str:
    """Return a SQL boolean: the timestamptz expression lies in the landing window (NULL stays NULL)."""
    return (f"(isfinite({expr}) and cast({expr} as timestamp) >= getvariable('pings_received_min')"
            f" and {expr} <= now() + to_days(getvariable('pings_received_ahead_days')))")


def classify_sql(source: str = "batch", target: str = "classified") -> str:
    """Return the statement that classifies a loader's rows (`source`, a batch) into the temp table `target`."""
    return f"""
    create or replace temp table {target} as
    with batch_rows as (
        select
            *,
            try_cast(trim(received_at_text) as timestamptz) as received_tz,
            coalesce({has_address_sql(_ALL_TEXT)}, false) as addr
        from {source}
    ),
    timed as (
        select
            *,
            -- UTC; the window is [received_at_min 00:00 UTC, load time + received_at_max_ahead_days]
            received_tz is not null and (
                not {in_window_sql('received_tz')}
                or (not ends_with(received_at_text, 'Z') and regexp_matches(received_at_text, '{_BAD_OFFSET}'))
            ) as out_of_range
        from batch_rows
    ),
    checked as (
        select
            * exclude (received_tz, out_of_range),
            case
                when reason is not null then reason
                when instance_id_type is null or instance_id_type = 'NULL' then 'instance_id_missing'
                when instance_id_type <> 'VARCHAR' then 'instance_id_not_string'
                when trim(instance_id) = '' then 'instance_id_empty'
                when length(instance_id) > 256 then 'instance_id_too_long'
                when addr and {has_address_sql('instance_id')} then 'instance_id_address_shaped'
                when received_at_text is null or trim(received_at_text) = '' then 'received_at_missing'
                when received_tz is null then 'received_at_unparseable'
                when out_of_range then 'received_at_out_of_range'
            end as final_reason,
            -- UTC (session time zone), truncated to milliseconds: half of a ping's identity; NULL out of range
            case when not out_of_range then date_trunc('millisecond', cast(received_tz as timestamp)) end as received_ts,
            case when addr then {_BLANKED} end as blanked
        from timed
    ),
    final as (
        -- the raw text is kept only where it is read later: quarantined rows, and rows whose payload shape
        -- is not stored yet (a new shape's keys are walked from one of its lines; a NULL shape is walked alone)
        select
            * replace (
                case when final_reason is not null or payload_shape is null
                          or payload_shape not in (select shape from payload_shapes) then raw end as raw
            )
        from checked
    )
    select * from final
    """


QUARANTINE = """
insert into quarantine
select
    load_id, $source, """ + scrub_sql("location") + """, final_reason,
    """ + scrub_sql("raw") + """,
    cast(received_ts as date)
from classified
where final_reason is not null
"""

BLANKED_VALUES = """
insert into blanked_values
select c.load_id, $source, c.location, unnest(c.blanked)
from classified c
where c.final_reason is null and len(c.blanked) > 0
  and exists (select 1 from raw_pings r where r.load_id = c.load_id and r.location = c.location)
"""

FIELD_COLUMNS = ", ".join(quoted(f) for f in FIELDS)
# an address-shaped value is blanked (the row is kept; blanked_values records which field)
BLANKED_COLUMNS = ", ".join(
    f"case when addr and {has_address_sql(quoted(f))} then null else {quoted(f)} end as {quoted(f)}" for f in FIELDS)

# pings stored already (a refresh re-reading a window, an export overlapping the last one) leave the batch before
# it is inserted, matched on their identity alone: the join holds keys only, never whole rows (a plan that built
# its hash tables on the batch's rows ran out of the 512MB cap at 350,000 lines once raw_pings was large:
# docs/benchmark.md)
STORED = """
delete from classified c
using (
    select v.load_id, v.ln
    from classified v
    join raw_pings r on r.instance_id = v.instance_id and r.received_at = v.received_ts
    where v.final_reason is null
      and r.received_at between (select min(received_ts) from classified where final_reason is null)
                            and (select max(received_ts) from classified where final_reason is null)
) d
where c.load_id = d.load_id and c.ln = d.ln
"""

# the quarantined rows leave the batch once stored (QUARANTINE): then nothing filters it before LAND, and the
# planner, seeing its full row count, builds LAND's join on ip_keys (never larger) rather than on the batch's rows
QUARANTINED = "delete from classified where final_reason is not null"

# a ping twice in the batch is only once here (DEDUPE_IN_BATCH removed the later copies, STORED those stored)
LAND = f"""
insert into raw_pings (load_id, source, location, received_at, instance_id, ip_hash, payload_shape, {FIELD_COLUMNS})
select n.load_id, $source, n.location, n.received_ts, n.instance_id, k.ip_hash, n.payload_shape, {BLANKED_COLUMNS}
from classified n
left join ip_keys k on k.ip = n.ip
"""

# the keyed hash once per distinct address value (a fleet sends from a few thousand addresses)
IP_KEYS = """
create or replace temp table ip_keys as
select ip, ip_key(ip) as ip_hash from (select distinct ip from classified where final_reason is null and ip is not null)
"""

# the valid rows whose ip is a placeholder (ip_keys holds each distinct ip once: placeholders get NULL)
PLACEHOLDERS = """
select r.load_id, count(*)
from raw_pings r
semi join (
    select load_id, location from classified
    where final_reason is null and ip in (select ip from ip_keys where ip_hash is null)
) c on c.load_id = r.load_id and c.location = r.location
where r.load_id between $1 and $2
group by all
"""

#: the names a bitmask shape's bits stand for, bit i = KEY_NAMES[i] (sorted, so keys come out sorted)
KEY_NAMES = sorted(["instanceId", *FIELDS])


def bitmask_keys_sql(bits: str) -> str:
    """Return SQL for the sorted key list a bitmask over KEY_NAMES stands for."""
    names = ", ".join(f"case when ({bits} >> {i}) & 1 = 1 then '{name}' end" for i, name in enumerate(KEY_NAMES))
    return f"list_filter([{names}], lambda x: x is not null)"


# the bitmask shapes of this batch not stored yet, with their keys (the known names whose bit is set)
BITMASK_SHAPES = f"""
insert into payload_shapes (shape, keys)
select shape, {bitmask_keys_sql('shape')}
from (select distinct payload_shape as shape from classified where payload_shape >= 0)
where shape not in (select shape from payload_shapes)
"""

# a flat row with unknown columns: its shape stands for the known bits and the unknown keys it carried
FLAT_EXTRA_SHAPES = f"""
insert into payload_shapes (shape, keys)
select shape, list_sort(list_concat({bitmask_keys_sql('bits')}, extra))
from (
    select payload_shape as shape, any_value(flat_known_bits) as bits, any_value(flat_extra_keys) as extra
    from classified
    where payload_shape < 0 and payload_shape not in (select shape from payload_shapes)
    group by payload_shape
)
"""


def flat_columns(col, extras: list[tuple[str, str]] = (), received_at: str | None = None) -> str:
    """Return the batch columns from instance_id_type on, for a source with one column per dotted key.

    `col(name)` gives the SQL expression holding a canonical column (created_at, instanceId, ip or a
    field), or "null::varchar" when the source lacks it. `extras` are the (SQL expression, payload key)
    of the columns the loader does not know: a row carrying any of them gets a negative shape over the
    known bits and those keys (flat_fixup stores it). `received_at` replaces col('created_at') (a zone rule).
    """
    fields = ",\n        ".join(f"{col(f)} as {quoted(f)}" for f in FIELDS)
    known = shape = flat_shape_sql(col)
    extra = ""
    if extras:
        present = ", ".join(f"case when {expr} is not null then {lit(key)} end"
                            for expr, key in extras)
        keys = f"list_filter([{present}], lambda x: x is not null)"
        extra = f""",
        {known} as flat_known_bits,
        {keys} as flat_extra_keys"""
        shape = f"case when len({keys}) = 0 then {known} else -1 - (hash({known}, {keys}) >> 1)::bigint end"
    return f"""case when {col('instanceId')} is not null then 'VARCHAR' end as instance_id_type,
        {col('instanceId')} as instance_id,
        {received_at or col('created_at')} as received_at_text,
        {col('ip')} as ip,
        {shape} as payload_shape,
        {fields}{extra}"""


def flat_extras(columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the (SQL expression, payload key) of a flat source's unknown columns [(expression, column name)]:
    every one but the collector's own (fields.COLLECTOR_ONLY) and those whose name is address-shaped."""
    return [(expr, name) for expr, name in columns if name not in COLLECTOR_ONLY and scrub(name) == name]


def flat_shape_sql(col) -> str:
    """Return SQL for the bitmask payload_shape of a flat row: bit i set when KEY_NAMES[i] is non-null."""
    bits = [f"(({col(name)} is not null)::bigint << {i})" for i, name in enumerate(KEY_NAMES)
            if col(name) != "null::varchar"]
    return "(" + " | ".join(bits) + ")" if bits else "0::bigint"


def flat_raw_sql(names: list[tuple[str, str]]) -> str:
    """Return SQL rebuilding a quarantined flat row as JSON, from (label, canonical name) pairs.

    It reads the batch's columns (so the address is keyed) and is evaluated for quarantined rows only.
    A name that is neither a field nor created_at/instanceId/ip is read from the batch column of that
    name, which the loader passes through unchanged (so a row keeps its raw text whatever the header).
    """
    batch_column = {"created_at": "received_at_text", "instanceId": "instance_id", "ip": "ip_key(ip)"}
    pairs = [
        f"'{label.replace(chr(39), chr(39) * 2)}', {batch_column.get(name, quoted(name))}"
        for label, name in names
    ]
    return "json_object(" + ", ".join(pairs) + ")::varchar" if pairs else "null"


def flat_fixup(names: list[tuple[str, str]], extras: bool):
    """Return a land() fixup for a flat source: the quarantined rows' text from (label, canonical name)
    pairs (flat_raw_sql), and, with extras, the shapes of rows carrying unknown columns."""
    raw = flat_raw_sql(names)

    def fixup(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"update classified set raw = {raw} where final_reason is not null and raw is null")
        if extras:
            con.execute(FLAT_EXTRA_SHAPES)
    return fixup


# the later copies of a ping that occurs twice in one batch (the first copy read is kept)
DEDUPE_IN_BATCH = """
delete from classified c
using (
    select load_id, ln from classified
    where final_reason is null
    qualify row_number() over (partition by instance_id, received_ts order by load_id, ln) > 1
) d
where c.load_id = d.load_id and c.ln = d.ln
"""


@dataclass
class Counts:
    """What one landing did with its rows: read = loaded + duplicates + quarantined.

    ip_placeholders: loaded pings whose ip was a placeholder (`unknown`, empty): no hash, no address.
    """

    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ip_placeholders: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.read + other.read, self.loaded + other.loaded, self.duplicates + other.duplicates,
                      self.quarantined + other.quarantined, self.ip_placeholders + other.ip_placeholders)

    def __iadd__(self, other: "Counts") -> "Counts":
        self.read += other.read
        self.loaded += other.loaded
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.ip_placeholders += other.ip_placeholders
        return self


def land(con: duckdb.DuckDBPyConnection, source: str, fixup=None) -> dict[int, Counts]:
    """Land `batch`: quarantine bad rows, insert new pings; return the counts of each load_id in it.

    `source` is the source's label (addresses blanked, sources.label). `fixup(con)`, when given, may
    amend the table `classified` before anything is counted or written (the ping-log loader adds the
    lines its reader rejected; a flat loader rebuilds the quarantined rows' text).
    """
    ensure_configured(con)
    con.execute(classify_sql())
    if fixup:
        fixup(con)
    per_load: dict[int, Counts] = {}
    blanked = 0
    for load_id, read, bad, addr in con.execute(
        "select load_id, count(*), count(final_reason), count(*) filter (where addr) from classified group by load_id"
    ).fetchall():
        per_load[load_id] = Counts(read=read, quarantined=bad)
        blanked += addr
    params = {"source": source}
    if any(c.quarantined for c in per_load.values()):
        con.execute(QUARANTINE, params)
    repeats = con.execute(
        "select count(*) - count(distinct (instance_id, received_ts)) from classified where final_reason is null"
    ).fetchall()[0][0]
    if repeats:   # the same ping twice in one batch is rare: only then pay for the window that finds it
        con.execute(DEDUPE_IN_BATCH)
    con.execute(BITMASK_SHAPES)
    con.execute(IP_KEYS)
    con.execute(STORED)
    con.execute(QUARANTINED)
    con.execute(LAND, params)
    if per_load:
        _count_loaded(con, per_load)
    con.execute("drop table ip_keys")
    if blanked:
        con.execute(BLANKED_VALUES, params)
    for c in per_load.values():
        c.duplicates = c.read - c.quarantined - c.loaded
    con.execute("drop table if exists classified")
    return per_load


def _count_loaded(con: duckdb.DuckDBPyConnection, per_load: dict[int, Counts]) -> None:
    """Set each load's loaded pings, and those whose ip was a placeholder, from raw_pings."""
    bounds = [min(per_load), max(per_load)]
    for load_id, loaded in con.execute(
        "select load_id, count(*) from raw_pings where load_id between $1 and $2 group by load_id", bounds,
    ).fetchall():
        if load_id in per_load:
            per_load[load_id].loaded = loaded
    if con.execute("select count(*) from ip_keys where ip_hash is null").fetchall()[0][0]:
        for load_id, placeholders in con.execute(PLACEHOLDERS, bounds).fetchall():
            if load_id in per_load:
                per_load[load_id].ip_placeholders = placeholders
