"""Collector-table CSV export source (`\\copy pings TO ... CSV HEADER`), plain or gzipped.

psql writes NULL as an empty field and the empty string as `""`: an unquoted empty field is NULL, a
quoted one the empty string (as the live table gives it). A created_at without a UTC offset is read
in the csv_time_zone setting (default UTC). A column the loader does not know is a payload key of
the rows that carry a value in it (landing.flat_columns), as a key is in the ping log.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from ...fields import FIELDS, RENAMED, lit, quoted
from ..landing import Counts, flat_columns, flat_extras, flat_fixup, land, setting, zoned_sql
from . import Preview, label
from .files import Outcome, Part, load_files, preview_files


def read_header(path: Path) -> list[str]:
    """Return the column names of a CSV export's header line."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        first = fh.readline().decode("utf-8-sig")
    return next(csv.reader(io.StringIO(first)), [])


KNOWN = {"created_at", "instanceId", "ip", *FIELDS}


def canonical(name: str) -> str:
    """Return the batch column a header name lands in: its current name, or 'csv:<name>' for an unknown one."""
    name = RENAMED.get(name, name)
    return name if name in KNOWN else "csv:" + name


def check_header(item: str, header: list[str]) -> None:
    """Raise ValueError (one line) when a header is not a collector export's: no created_at and instanceId."""
    names = {RENAMED.get(h, h) for h in header}
    if {"created_at", "instanceId"} <= names:
        return
    first = ",".join(header)
    hint = ""
    for delim, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if delim in first:
            hint = f" (it looks {label}-delimited)"
    raise ValueError(f"{item}: not a collector export{hint}: the header must be comma-separated and name"
                     " created_at (or createdAt) and instanceId; not read")


def batch_sql(header: list[str], scan: str, zone: str = "UTC") -> tuple[str, str]:
    """Return (SQL reading the CSV into csv_rows, SQL building temp view `batch` from it) for this header.

    A created_at without offset is read in `zone`; the unknown columns pass through as csv:<name> and
    are the row's extra payload keys.
    """
    present = {canonical(h): h for h in header}
    columns = "{" + ", ".join(f"{lit(h)}: 'VARCHAR'" for h in header) + "}"
    extra = [name for name in present if name.startswith("csv:")]
    passed = "".join(f",\n        {quoted(present[n])} as {quoted(n)}" for n in extra)

    def col(name: str) -> str:
        return quoted(present[name]) if name in present else "null::varchar"

    received_at = zoned_sql(col("created_at"), zone) if zone != "UTC" and "created_at" in present else None
    extras = flat_extras([(quoted(present[n]), present[n]) for n in extra])
    return f"""
create or replace temp table csv_rows as
select row_number() over () as n, *
from read_csv($path, header = true, delim = ',', quote = '"', escape = '"',
              auto_detect = false, columns = {columns}, allow_quoted_nulls = false,
              store_rejects = true, rejects_table = '{scan}_errors', rejects_scan = '{scan}_scans')
""", f"""
create or replace temp view batch as
with rejected_records as (
    -- record numbers (header excluded) of the rejected rows, numbered in file order
    select line - 1 as r, row_number() over (order by line) as j
    from (select distinct line from {scan}_errors)
),
rows as (
    -- the n-th accepted row is record n plus the rejected records before it
    select
        c.* exclude (n),
        c.n + (select count(*) from rejected_records x where x.r - x.j < c.n) as n
    from csv_rows c
),
good as (
    select
        getvariable('pings_load_id') as load_id,
        n + getvariable('pings_first_line') - 1 as ln,
        getvariable('pings_item') || ':' || (n + getvariable('pings_first_line') - 1) as location,
        null::varchar as raw,
        null::varchar as reason,
        {flat_columns(col, extras, received_at)}{passed}
    from rows
),
rejected_lines as (
    -- one row per rejected record, however many errors the reader found in it
    select line, arg_min(csv_line, byte_position) as csv_line from {scan}_errors group by line
),
rejected as (
    select
        getvariable('pings_load_id') as load_id,
        -1 as ln,
        getvariable('pings_item') || ':' || (line + getvariable('pings_first_line') - 2) as location,
        csv_line as raw,
        'csv_malformed' as reason,
        null::bigint as payload_shape
    from rejected_lines
),
final as (
    select * from good
    union all by name
    select * from rejected
)
select * from final
"""


PATTERNS = ("*.csv", "*.csv.gz")


def items(source: str) -> list[str]:
    """Return the export files of a CSV source: the file, or every export in a folder (sorted)."""
    path = Path(source)
    if path.is_dir():
        return sorted(str(p) for pattern in PATTERNS for p in path.rglob(pattern))
    if not path.exists():
        raise FileNotFoundError(f"CSV export not found: {source}")
    return [str(path)]


def land_part(con, part: Part, source: str) -> dict[int, Counts]:
    """Land one CSV file part (its own header decides the columns); counts per load_id (source: its label)."""
    header = read_header(part.path)
    if not header:
        raise ValueError(f"{part.name}: empty file or no header line")
    check_header(part.name, header)
    scan = "csvrej"
    read, build = batch_sql(header, scan, setting(con, "csv_time_zone") or "UTC")
    con.execute(read, {"path": str(part.read_path)})
    # a view takes no bound parameters: the part's identity goes in as session variables it reads
    con.execute("set variable pings_load_id = $1::integer", [part.load_id])
    con.execute("set variable pings_first_line = $1::bigint", [part.first_line])
    con.execute("set variable pings_item = $1::varchar", [part.name])
    con.execute(build)
    counts = land(con, source, flat_fixup([(h, canonical(h)) for h in header], has_extras(header)))
    con.execute(f"drop view batch; drop table if exists {scan}_errors; drop table if exists {scan}_scans;"
                " drop table csv_rows")
    return counts


def has_extras(header: list[str]) -> bool:
    """Return whether a header has a column that is a payload key the loader does not know."""
    return bool(flat_extras([(h, h) for h in header if canonical(h).startswith("csv:")]))


def _files(source: str) -> list[tuple[Path, str]]:
    """Return the export files of a CSV source with their display names."""
    return [(Path(p), Path(p).name) for p in items(source)]


def load(con, source: str, progress=None) -> Outcome:
    """Load what is new in every export file of a CSV source."""
    stored = label(con, source)
    return load_files(con, source, _files(source), lambda c, parts: land_part(c, parts[0], stored),
                      header=True, together=False, progress=progress)


def preview(con, source: str) -> Preview:
    """Return the new data rows a refresh would read now and the files holding them (writes nothing)."""
    return preview_files(con, source, _files(source), header=True)
