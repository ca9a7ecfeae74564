"""The collector's live PostgreSQL table, read over ADBC (Arrow): rows newer than the watermark, minus a window.

A row stamped before the watermark but committed after the last read would be missed: every refresh
re-reads the rows stamped up to pg_reread_minutes before the watermark. The rows of that window
already read are remembered by location in `pg_seen` and dropped before counting, so each row is
read (and counted) once. The watermark only moves to times inside the landing window: a row stamped
`infinity` is quarantined, never a watermark.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...fields import FIELDS, RENAMED, quoted
from ...privacy import scrub
from ..landing import Counts, ensure_configured, flat_columns, flat_raw_sql, in_window_sql, land
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


def _columns(cur, table: str) -> list[str]:
    """Return the column names of the table, in table order."""
    schema, _, name = table.rpartition(".")
    cur.execute("select column_name from information_schema.columns where table_name = $1::text"
                " and ($2::text = '' or table_schema = $2::text) order by ordinal_position", (name, schema))
    cols = [r[0] for r in cur.fetchall()]
    if not cols:
        raise ValueError(f"table {table} not found or has no columns")
    return cols


def _select(table: str, columns: list[str], watermark: str | None) -> str:
    """Return SQL reading the rows stamped after `watermark` (the re-read window's start), every column as text."""
    canonical = {RENAMED.get(c, c): c for c in columns}
    created = canonical.get("created_at")
    if created is None:
        raise ValueError(f"table {table} has no created_at (or createdAt) column")
    cols = ", ".join(f"{quoted(c)}::text as {quoted(RENAMED.get(c, c))}" for c in columns)
    table_sql = ".".join(quoted(p) for p in table.split("."))
    where = ""
    if watermark:
        where = f" where {quoted(created)} > '{watermark}'::timestamptz"
    return f"select {cols} from {table_sql}{where} order by {quoted(created)}"


def _batch_sql(present: list[str]) -> str:
    """Return SQL turning the Arrow rows in `pg_rows` into the temp table `batch` (binds $load_id, $table)."""
    def col(name: str) -> str:
        return quoted(name) if name in present else "null::varchar"

    return f"""
create or replace temp table batch as
with rows as (
    select row_number() over () as n, * from pg_rows
),
final as (
    select
        $load_id::integer as load_id,
        n as ln,
        $table || '@' || coalesce({col('created_at')}, '?') || '/' || coalesce({col('instanceId')}, '?') as location,
        null::varchar as raw,
        null::varchar as reason,
        {flat_columns(col)}
    from rows
)
select * from final
"""


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


def _load_new_rows(con, source: str, progress=None) -> Counts:
    """Read rows newer than the stored watermark, land them, and move the watermark."""
    uri, table = split_uri(source)
    label = redact(source)
    rows = con.execute(
        "select watermark from source_state where source = $1 and item = $2", [label, table]
    ).fetchall()  # fetch to the end: a half-read DuckDB result blocks the connection
    watermark = rows[0][0] if rows else None
    ensure_configured(con)
    since = _reread_start(con, watermark)
    total = Counts()
    with _connect(uri) as pg:
        with pg.cursor() as cur:  # one cursor per statement: ADBC allows one open result a connection
            cur.execute("set time zone 'UTC'")
            cur.fetchall()
        with pg.cursor() as cur:
            columns = _columns(cur, table)
        with pg.cursor() as cur:
            query = _select(table, columns, since)
            cur.execute(query)
            reader = cur.fetch_record_batch()
            present = [RENAMED.get(c, c) for c in columns]
            known = [c for c in present if c in ("created_at", "instanceId", "ip", *FIELDS)]
            batch_sql = _batch_sql(present)
            pending_batches: list = []
            for record_batch in reader:
                pending_batches.append(record_batch)
                if sum(b.num_rows for b in pending_batches) >= READ_BATCH:
                    counts, mark = _land_batches(con, label, table, pending_batches, batch_sql, known)
                    total += counts
                    watermark = _later(watermark, mark)
                    pending_batches = []
            if pending_batches:
                counts, mark = _land_batches(con, label, table, pending_batches, batch_sql, known)
                total += counts
                watermark = _later(watermark, mark)
    con.execute(
        """insert or replace into source_state (source, item, watermark, rows_done, status, last_loaded_at, simulated)
           values ($1, $2, $3, coalesce((select rows_done from source_state where source = $1 and item = $2), 0) + $4,
                   'ok', now()::timestamp, false)""",
        [label, table, watermark, total.read],
    )
    # forget the rows that fell behind the next re-read window
    con.execute("delete from pg_seen where source = $1 and item = $2 and created_at < cast($3 as timestamptz)",
                [label, table, _reread_start(con, watermark)])
    if progress and total.read:
        progress(f"  {label}: +{total.read:,} rows read, {total.loaded:,} loaded, {total.duplicates:,} duplicates,"
                 f" {total.quarantined:,} quarantined")
    return total


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
           duplicates = $4, quarantined = $5 where load_id = $1""",
        [load_id, counts.read, counts.loaded, counts.duplicates, counts.quarantined],
    )


def _later(a: str | None, b: str | None) -> str | None:
    """Return the later of two 'YYYY-MM-DD HH:MM:SS.ffffff+00' watermarks."""
    return max([x for x in (a, b) if x], default=None)


def _land_batches(con, label: str, table: str, batches: list, batch_sql: str, present: list[str]) -> tuple[Counts, str | None]:
    """Land a list of Arrow record batches as one load; return its counts and largest created_at."""
    import pyarrow as pa

    pg_rows = pa.Table.from_batches(batches)  # noqa: F841 (read by DuckDB by name)
    con.register("pg_rows", pg_rows)
    try:
        load_id = con.execute("select nextval('load_id_seq')").fetchall()[0][0]
        con.execute(batch_sql, {"load_id": int(load_id), "table": table})
        # rows of the re-read window that an earlier refresh already read: not read again
        con.execute("delete from batch b using pg_seen s where s.source = $1 and s.item = $2 and s.location = b.location",
                    [label, table])
        stamp = "try_cast(received_at_text as timestamptz)"
        left, mark = con.execute(
            f"select count(*), strftime(max({stamp}) filter (where {in_window_sql(stamp)}), '%Y-%m-%d %H:%M:%S.%f')"
            " || '+00' from batch").fetchall()[0]
        if not left:
            con.execute("drop table if exists batch")
            return Counts(), None
        con.execute(f"""insert into pg_seen select $1, $2, location, {stamp} from batch
                        where {stamp} >= cast($3 as timestamptz) - to_minutes(getvariable('pings_pg_reread_minutes'))
                           or {stamp} is null""", [label, table, mark or "-infinity"])
        new_load(con, label, table, load_id)
        counts = land(con, label, flat_raw_sql([(c, c) for c in present])).get(load_id, Counts())
        con.execute("drop table if exists batch")
        close_load(con, load_id, counts)
    finally:
        con.unregister("pg_rows")
    return counts, mark
