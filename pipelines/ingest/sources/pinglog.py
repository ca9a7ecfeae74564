"""Ping-log source: JSON lines {"received_at", "ip_hash", "payload"}, a file or a folder of them."""

from __future__ import annotations

from pathlib import Path

from ...fields import FIELDS, json_path, lit, quoted
from ..landing import Counts, land
from .files import Outcome, Part, load_files

PATTERNS = ("*.jsonl", "*.jsonl.gz")

_PATHS = ["$.received_at", "$.ip_hash", "$.ip", "$.payload.instanceId"] + [json_path(f) for f in FIELDS]

BATCH = """
create or replace temp view batch as
with parts(path, name, load_id, first_line) as (
    values {parts}
),
lines as (
    select row_number() over () as g, filename, line
    from read_csv({paths}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x1f',
                  quote = '', escape = '', auto_detect = false, strict_mode = false,
                  null_padding = false, filename = true)
),
numbered as (
    select
        p.load_id,
        g - min(g) over (partition by l.filename) + p.first_line as ln,   -- line number in the file
        p.name,
        l.line,
        coalesce(json_valid(l.line), false) as ok
    from lines l
    join parts p on p.path = l.filename
),
extracted as (
    select
        *,
        case when ok then json_type(line, ['$', '$.payload', '$.payload.instanceId']) end as types,
        case when ok then json_extract_string(line, {json_paths}) end as v
    from numbered
),
final as (
    select
        load_id,
        ln,
        name || ':' || ln as location,
        coalesce(line, '') as raw,
        case
            when not ok then 'not_json'
            when types[1] <> 'OBJECT' or coalesce(types[2], '') <> 'OBJECT' then 'not_object'
        end as reason,
        types[3] as instance_id_type,
        v[4] as instance_id,
        v[1] as received_at_text,
        coalesce(v[2], v[3]) as ip,
        {columns}
    from extracted
)
select * from final
"""
JSON_PATHS = "[" + ", ".join(lit(p) for p in _PATHS) + "]"
COLUMNS = ",\n        ".join(f"v[{i + 5}] as {quoted(f)}" for i, f in enumerate(FIELDS))


def files_of(source: str) -> list[Path]:
    """Return the ping-log files of a source (a file, or a folder searched recursively), sorted."""
    path = Path(source)
    if path.is_dir():
        found = {p for pattern in PATTERNS for p in path.rglob(pattern)}
        return sorted(found)
    if not path.exists():
        raise FileNotFoundError(f"ping-log source not found: {source}")
    return [path]


def land_parts(con, parts: list[Part], source: str) -> dict[int, Counts]:
    """Land the ping-log lines of several file parts in one statement; counts per load_id."""
    rows = ", ".join(
        f"({lit(str(p.read_path))}, {lit(p.name)}, {lit(p.load_id)}, {lit(p.first_line)})" for p in parts
    )
    paths = "[" + ", ".join(lit(str(p.read_path)) for p in parts) + "]"
    con.execute(BATCH.format(parts=rows, paths=paths, json_paths=JSON_PATHS, columns=COLUMNS))
    counts = land(con, source)
    con.execute("drop view batch")
    return counts


def load(con, source: str, progress=None) -> Outcome:
    """Load what is new in every ping-log file of a source."""
    root = Path(source)
    files = [(p, str(p.relative_to(root)) if root.is_dir() else p.name) for p in files_of(source)]
    return load_files(con, source, files, lambda c, parts: land_parts(c, parts, source), progress=progress)
