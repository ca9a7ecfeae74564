"""Collector-table CSV export source (`\\copy pings TO ... CSV HEADER`), plain or gzipped."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from ...fields import FIELDS, RENAMED, lit, quoted
from ...privacy import scrub
from ..landing import Counts, flat_columns, flat_raw_sql, land
from .files import Outcome, Part, load_files


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


def batch_sql(header: list[str], scan: str) -> tuple[str, str]:
    """Return (SQL reading the CSV into csv_rows, SQL building temp table `batch` from it) for this header."""
    present = {canonical(h): h for h in header}
    columns = "{" + ", ".join(f"{lit(h)}: 'VARCHAR'" for h in header) + "}"
    extra = [name for name in present if name.startswith("csv:")]
    extra_good = "".join(f",\n        {quoted(present[n])} as {quoted(n)}" for n in extra)
    extra_null = "".join(f", null as {quoted(n)}" for n in extra)

    def col(name: str) -> str:
        return quoted(present[name]) if name in present else "null::varchar"

    return f"""
create or replace temp table csv_rows as
select row_number() over () as n, *
from read_csv($path, header = true, delim = ',', quote = '"', escape = '"',
              auto_detect = false, columns = {columns},
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
        {flat_columns(col)}{extra_good}
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
        null as instance_id_type, null as instance_id, null as received_at_text, null as ip,
        null::bigint as payload_shape,
        {", ".join(f"null as {quoted(f)}" for f in FIELDS)}{extra_null}
    from rejected_lines
),
final as (
    select * from good
    union all
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
    """Land one CSV file part (its own header decides the columns); counts per load_id."""
    header = read_header(Path(part.item))
    if not header:
        raise ValueError(f"{part.item}: empty file or no header line")
    check_header(part.name, header)
    scan = "csvrej"
    read, build = batch_sql(header, scan)
    con.execute(read, {"path": str(part.read_path)})
    # a view takes no bound parameters: the part's identity goes in as session variables it reads
    con.execute("set variable pings_load_id = $1::integer", [part.load_id])
    con.execute("set variable pings_first_line = $1::bigint", [part.first_line])
    con.execute("set variable pings_item = $1::varchar", [scrub(part.name)])
    con.execute(build)
    counts = land(con, source, raw_sql(header))
    con.execute(f"drop view batch; drop table if exists {scan}_errors; drop table if exists {scan}_scans;"
                " drop table csv_rows")
    return counts


def load(con, source: str, progress=None) -> Outcome:
    """Load what is new in every export file of a CSV source."""
    files = [(Path(p), Path(p).name) for p in items(source)]
    return load_files(con, source, files, lambda c, parts: land_part(c, parts[0], source),
                      header=True, together=False, progress=progress)


def raw_sql(header: list[str]) -> str:
    """Return SQL rebuilding a quarantined row's text as JSON of its columns (the address keyed)."""
    return flat_raw_sql([(h, canonical(h)) for h in header])
