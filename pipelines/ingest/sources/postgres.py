"""The collector's live PostgreSQL table, read over ADBC (Arrow): rows newer than the watermark, minus a window.

A row stamped before the watermark but committed after the last read would be missed: every refresh
re-reads the rows stamped up to pg_reread_minutes before the watermark. The rows of that window
already read are remembered by location in `pg_seen` and dropped before counting, so each row is
read (and counted) once. The watermark only moves to times inside the landing window: a row stamped
`infinity` is quarantined, never a watermark.

The collector's created_at is `timestamp without time zone`, filled in the database session's time
zone: it is read in the pg_time_zone setting, else in the zone the server gives a new session (its
TimeZone), and converted to UTC; the zone used is recorded in source_state.time_zone (status shows
it). A `timestamp with time zone` column needs no zone. A column the loader does not know is a
payload key of the rows that carry a value in it (landing.flat_columns). The source, the table and
an address-shaped instanceId in a location are stored as labels (sources.label: no address).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...fields import FIELDS, RENAMED, lit, quoted
from ...privacy import has_address_sql, scrub, scrub_sql
from ..landing import (Counts, ensure_configured, flat_columns, flat_extras, flat_fixup, in_window_sql, land,
                       setting)
from . import Preview, TAG_DIGITS, label
from .files import Outcome

READ_BATCH = 200_000


def split_uri(source: str) -> tuple[str, str]:
    """Return (libpq URI without our ?table= option, table name)."""
    parts = urlsplit(source)
    query = parse_qsl(parts.query, keep_blank_values=True)
    table = next((v for k, v in query if k == "table"), "pings")
    rest = urlencode([(k, v) for k, v in query if k != "table"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), table


def redact(source: str) -> str:
    """Return the source URI with any password replaced, for logs and the warehouse."""
    parts = urlsplit(source)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return source


def _connect(uri: str):
    """Open an ADBC connection to PostgreSQL."""
    import adbc_driver_postgresql.dbapi as pg

    return pg.connect(uri)


KNOWN = {"created_at", "instanceId", "ip", *FIELDS}
NAIVE = "timestamp without time zone"


def _columns(cur, table: str) -> list[tuple[str, str]]:
    """Return the (column name, data type) of the table, in table order."""
    schema, _, name = table.rpartition(".")
    cur.execute("select column_name, data_type from information_schema.columns where table_name = $1::text"
                " and ($2::text = '' or table_schema = $2::text) order by ordinal_position", (name, schema))
    cols = [(r[0], r[1]) for r in cur.fetchall()]
    if not cols:
        raise ValueError(f"table {table} not found or has no columns")
    return cols


def _created(table: str, columns: list[tuple[str, str]]) -> tuple[str, bool]:
    """Return the created_at (or createdAt) column's name and whether it is without time zone."""
    created = next(((c, t) for c, t in columns if RENAMED.get(c, c) == "created_at"), None)
    if created is None:
        raise ValueError(f"table {table} has no created_at (or createdAt) column")
    return created[0], created[1] == NAIVE


def _select(table: str, columns: list[tuple[str, str]], since: str | None, zone: str) -> str:
    """Return SQL reading the rows stamped after `since` (the re-read window's start, UTC), every column as text.

    A created_at without time zone is read in `zone` and given as UTC text; `since` is compared in its zone.
    """
    created, naive = _created(table, columns)
    cols = ", ".join(
        f"({quoted(c)} at time zone {lit(zone)})::text as {quoted(RENAMED.get(c, c))}" if c == created and naive
        else f"{quoted(c)}::text as {quoted(RENAMED.get(c, c))}" for c, _ in columns)
    return f"select {cols} from {_table_sql(table)}{_after(created, naive, since, zone)} order by {quoted(created)}"


def _table_sql(table: str) -> str:
    """Return the table name quoted for PostgreSQL (schema.table)."""
    return ".".join(quoted(p) for p in table.split("."))


def _after(created: str, naive: bool, since: str | None, zone: str) -> str:
    """Return the WHERE clause for rows stamped after `since` (UTC text), or '' (the index on created_at serves it)."""
    if not since:
        return ""
    bound = f"{lit(since)}::timestamptz"
    return f" where {quoted(created)} > ({bound} at time zone {lit(zone)})" if naive else \
        f" where {quoted(created)} > {bound}"


def location_sql(col) -> str:
    """Return SQL for a row's location, $table@created_at/instanceId (col(name) gives a column's expression);
    an address-shaped instanceId is blanked and tagged with its keyed hash (two stay two): no address in it."""
    iid = col("instanceId")
    tagged = f"{scrub_sql(iid)} || ' #' || left(ip_key({iid}), {TAG_DIGITS})"
    return (f"$table || '@' || coalesce({col('created_at')}, '?') || '/' ||"
            f" coalesce(case when {has_address_sql(iid)} then {tagged} else {iid} end, '?')")


def _batch_sql(present: list[str]) -> str:
    """Return SQL turning the Arrow rows in `pg_rows` into the temp table `batch` (binds $load_id, $table)."""
    def col(name: str) -> str:
        return quoted(name) if name in present else "null::varchar"

    unknown = [c for c in present if c not in KNOWN]
    extras = flat_extras([(quoted(c), c) for c in unknown])
    # the unknown columns pass through as pg:<name> (a quarantined row's text names them)
    passed = "".join(f",\n        {quoted(c)} as {quoted('pg:' + c)}" for c in unknown)
    return f"""
create or replace temp table batch as
with rows as (
    select row_number() over () as n, * from pg_rows
),
final as (
    select
        $load_id::integer as load_id,
        n as ln,
        {location_sql(col)} as location,
        null::varchar as raw,
        null::varchar as reason,
        {flat_columns(col, extras)}{passed}
    from rows
)
select * from final
"""


def _zone(pg) -> str:
    """Return the TimeZone the server gives a new session (the collector's CURRENT_TIMESTAMP is filled in it)."""
    with pg.cursor() as cur:
        cur.execute("select current_setting('TimeZone')")
        return cur.fetchall()[0][0]


def load(con, source: str, progress=None) -> Outcome:
    """Load the rows added to the table since the last refresh, in one transaction."""
    con.execute("begin transaction")
    try:
        counts = _load_new_rows(con, source, progress)
        con.execute("commit")
    except Exception as exc:
        con.execute("rollback")
        message = redact(str(exc)).splitlines()[0] if str(exc) else ""
        return Outcome(errors=[scrub(f"{redact(source)}: {type(exc).__name__}: {message}")])
    return Outcome(counts=counts)


def _state(con, source: str) -> tuple[str, str, str, str | None]:
    """Return (libpq URI, table, source label, stored watermark) of a PostgreSQL source."""
    uri, table = split_uri(source)
    stored = label(con, redact(source))
    if con is not None:
        ensure_configured(con)
    rows = con.execute(
        "select watermark from source_state where source = $1 and item = $2", [stored, label(con, table)]
    ).fetchall() if con is not None else []  # fetch to the end: a half-read DuckDB result blocks the connection
    return uri, table, stored, rows[0][0] if rows else None


def _open(uri: str, con):
    """Open the server connection; return it with the zone for created_at (setting, else the server's), then UTC."""
    pg = _connect(uri)
    zone = (setting(con, "pg_time_zone") if con is not None else None) or _zone(pg)
    with pg.cursor() as cur:  # one cursor per statement: ADBC allows one open result a connection
        cur.execute("set time zone 'UTC'")
        cur.fetchall()
    return pg, zone


def _load_new_rows(con, source: str, progress=None) -> Counts:
    """Read rows newer than the stored watermark, land them, and move the watermark."""
    uri, table, stored, watermark = _state(con, source)
    item = label(con, table)
    since = _reread_start(con, watermark)
    total = Counts()
    pg, zone = _open(uri, con)
    with pg:
        with pg.cursor() as cur:
            columns = _columns(cur, table)
        naive = _created(table, columns)[1]
        with pg.cursor() as cur:
            cur.execute(_select(table, columns, since, zone))
            reader = cur.fetch_record_batch()
            present = [RENAMED.get(c, c) for c, _ in columns]
            batch_sql = _batch_sql(present)
            fixup = flat_fixup([(c, c if c in KNOWN else "pg:" + c) for c in present],
                               bool(flat_extras([(c, c) for c in present if c not in KNOWN])))
            pending_batches: list = []
            for record_batch in reader:
                pending_batches.append(record_batch)
                if sum(b.num_rows for b in pending_batches) >= READ_BATCH:
                    counts, mark = _land_batches(con, stored, item, pending_batches, batch_sql, fixup)
                    total += counts
                    watermark = _later(watermark, mark)
                    pending_batches = []
            if pending_batches:
                counts, mark = _land_batches(con, stored, item, pending_batches, batch_sql, fixup)
                total += counts
                watermark = _later(watermark, mark)
    con.execute(
        """insert or replace into source_state (source, item, watermark, rows_done, status, last_loaded_at, simulated,
                                                time_zone)
           values ($1, $2, $3, coalesce((select rows_done from source_state where source = $1 and item = $2), 0) + $4,
                   'ok', now()::timestamp, false, $5)""",
        [stored, item, watermark, total.read, zone if naive else "timestamptz"],
    )
    # forget the rows that fell behind the next re-read window
    con.execute("delete from pg_seen where source = $1 and item = $2 and created_at < cast($3 as timestamptz)",
                [stored, item, _reread_start(con, watermark)])
    if progress and total.read:
        progress(f"  {stored}: +{total.read:,} rows read, {total.loaded:,} loaded, {total.duplicates:,} duplicates,"
                 f" {total.quarantined:,} quarantined")
    return total


def preview(con, source: str) -> Preview:
    """Return the rows a refresh would read now (rows after the re-read window's start not read before) and
    1 item when there are any; asks the server, writes nothing."""
    uri, table, stored, watermark = _state(con, source)
    since = _reread_start(con, watermark) if con is not None else None
    pg, zone = _open(uri, con)
    with pg:
        with pg.cursor() as cur:
            columns = _columns(cur, table)
        created, naive = _created(table, columns)
        with pg.cursor() as cur:
            cur.execute(f"select count(*) from {_table_sql(table)}{_after(created, naive, since, zone)}")
            rows = cur.fetchall()[0][0]
    seen = con.execute("select count(*) from pg_seen where source = $1 and item = $2 and created_at > cast($3 as"
                       " timestamptz)", [stored, label(con, table), since]).fetchall()[0][0] if since else 0
    rows = max(rows - seen, 0)
    return Preview(rows=rows, items=1 if rows else 0, notes=[f"{stored}: created_at read in {zone}"] if naive else [])


def _reread_start(con, watermark: str | None) -> str | None:
    """Return where the next read starts: pg_reread_minutes before the watermark (None: from the start)."""
    if not watermark:
        return None
    return con.execute(
        "select strftime(cast($1 as timestamptz) - to_minutes(getvariable('pings_pg_reread_minutes')),"
        " '%Y-%m-%d %H:%M:%S.%f') || '+00'", [watermark]).fetchall()[0][0]


def new_load(con, source: str, item: str, load_id: int) -> int:
    """Open a load_log row and return its load_id."""
    con.execute(
        "insert into load_log (load_id, source, item, started_at) values ($1, $2, $3, now()::timestamp)",
        [load_id, source, item],
    )
    return load_id


def close_load(con, load_id: int, counts: Counts) -> None:
    """Write the counts of a finished load."""
    con.execute(
        """update load_log set finished_at = now()::timestamp, rows_read = $2, loaded = $3,
           duplicates = $4, quarantined = $5, ip_placeholders = $6 where load_id = $1""",
        [load_id, counts.read, counts.loaded, counts.duplicates, counts.quarantined, counts.ip_placeholders],
    )


def _later(a: str | None, b: str | None) -> str | None:
    """Return the later of two 'YYYY-MM-DD HH:MM:SS.ffffff+00' watermarks."""
    return max([x for x in (a, b) if x], default=None)


def _land_batches(con, stored: str, table: str, batches: list, batch_sql: str, fixup) -> tuple[Counts, str | None]:
    """Land a list of Arrow record batches as one load; return its counts and largest created_at.

    stored and table are the source's and the table's labels; fixup is landing.flat_fixup's.
    """
    import pyarrow as pa

    pg_rows = pa.Table.from_batches(batches)  # noqa: F841 (read by DuckDB by name)
    con.register("pg_rows", pg_rows)
    try:
        load_id = con.execute("select nextval('load_id_seq')").fetchall()[0][0]
        con.execute(batch_sql, {"load_id": int(load_id), "table": table})
        # rows of the re-read window that an earlier refresh already read: not read again
        con.execute("delete from batch b using pg_seen s where s.source = $1 and s.item = $2 and s.location = b.location",
                    [stored, table])
        stamp = "try_cast(received_at_text as timestamptz)"
        left, mark = con.execute(
            f"select count(*), strftime(max({stamp}) filter (where {in_window_sql(stamp)}), '%Y-%m-%d %H:%M:%S.%f')"
            " || '+00' from batch").fetchall()[0]
        if not left:
            con.execute("drop table if exists batch")
            return Counts(), None
        con.execute(f"""insert into pg_seen select $1, $2, location, {stamp} from batch
                        where {stamp} >= cast($3 as timestamptz) - to_minutes(getvariable('pings_pg_reread_minutes'))
                           or {stamp} is null""", [stored, table, mark or "-infinity"])
        new_load(con, stored, table, load_id)
        counts = land(con, stored, fixup).get(load_id, Counts())
        con.execute("drop table if exists batch")
        close_load(con, load_id, counts)
    finally:
        con.unregister("pg_rows")
    return counts, mark
