"""Ping-log source: JSON lines {"received_at", "ip_hash", "payload"}, a file or a folder of them."""

from __future__ import annotations

from pathlib import Path

from ..fields import FIELDS, json_path, lit, quoted
from ..landing import Counts, land
from .files import load_file

PATTERNS = ("*.jsonl", "*.jsonl.gz")

_PATHS = ["$.received_at", "$.ip_hash", "$.ip", "$.payload.instanceId"] + [json_path(f) for f in FIELDS]

BATCH = """
create or replace temp view batch as
with lines as (
    select row_number() over () as n, line
    from read_csv($path, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x1f',
                  quote = '', escape = '', auto_detect = false, strict_mode = false,
                  null_padding = false)
),
parsed as (
    select
        n,
        line,
        coalesce(json_valid(line), false) as ok
    from lines
),
extracted as (
    select
        n,
        line,
        ok,
        case when ok then json_type(line, ['$', '$.payload', '$.payload.instanceId']) end as types,
        case when ok then json_extract_string(line, {paths}) end as v
    from parsed
),
final as (
    select
        n + $first_line - 1 as ln,
        $name || ':' || (n + $first_line - 1) as location,
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
""".format(
    paths="[" + ", ".join("'" + p.replace("'", "''") + "'" for p in _PATHS) + "]",
    columns=",\n        ".join(f"v[{i + 5}] as {quoted(f)}" for i, f in enumerate(FIELDS)),
)


def files_of(source: str) -> list[Path]:
    """Return the ping-log files of a source (a file, or a folder searched recursively), sorted."""
    path = Path(source)
    if path.is_dir():
        found = {p for pattern in PATTERNS for p in path.rglob(pattern)}
        return sorted(found)
    if not path.exists():
        raise FileNotFoundError(f"ping-log source not found: {source}")
    return [path]


def _land(con, source: str, path: Path, first_line: int, load_id: int, name: str) -> Counts:
    """Land the ping-log lines of `path` (numbered from first_line) as one load."""
    sql = BATCH.replace("$path", lit(str(path))).replace("$first_line", lit(first_line)).replace("$name", lit(name))
    con.execute(sql)
    counts = land(con, load_id, source)
    con.execute("drop view batch")
    return counts


def items(source: str) -> list[str]:
    """Return the files this source currently holds."""
    return [str(p) for p in files_of(source)]


def load_item(con, source: str, item: str) -> tuple[Counts, int]:
    """Load what is new in one ping-log file."""
    path = Path(item)
    root = Path(source)
    name = str(path.relative_to(root)) if root.is_dir() else path.name
    return load_file(con, source, path, lambda c, p, first, load_id: _land(c, source, p, first, load_id, name))
