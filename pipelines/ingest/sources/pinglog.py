"""Ping-log source: JSON lines {"received_at", "ip_hash", "payload"}, a file or a folder of them.

Lines are split on LF only (a raw CR is JSON whitespace; files.py turns it into a space first). A line
the reader cannot decode (not UTF-8) or that exceeds its limit (2 MB) is quarantined alone, by the
reader's rejects table; every other line of the batch loads.

A key given twice in one object keeps its last value, as the collector's parser (JSON.parse) does:
a line with a repeated key at the top, in the payload or in an object a known field sits in (rare,
found from the key lists the loader reads anyway) is read through `pings_last_value` instead of
json_extract_string (which keeps the first), and its payload keys are walked from the last payload.
"""

from __future__ import annotations

from pathlib import Path

from ...fields import FIELDS, json_path, lit, quoted
from ...privacy import has_address_sql
from ..landing import Counts, classify_sql, land
from . import Preview, label
from .files import Outcome, Part, load_files, preview_files

PATTERNS = ("*.jsonl", "*.jsonl.gz")

_PATHS = ["$.received_at", "$.ip_hash", "$.ip", "$.payload.instanceId"] + [json_path(f) for f in FIELDS]
# the same values' keys, from the line's top: for a line with a key twice (last_value_sql)
_KEYS = [["received_at"], ["ip_hash"], ["ip"], ["payload", "instanceId"]] + [["payload", *f.split(".")] for f in FIELDS]

# a batch of ping-log lines: {rows} gives `numbered` (load_id, ln, name, line, ok); {dup} is the literal true or
# false, so the optimiser keeps one path: false reads each value with json_extract_string (the first of a
# key given twice), true reads the last one as JSON.parse does (the lines whose keys repeat: fixup)
BATCH = """
create or replace temp view {view} as
with {rows},
keyed as (
    select *, case when ok then json_keys(line, {object_paths}) end as object_keys
    from numbered
),
extracted as (
    select
        *,
        {dup} as dup,
        case
            when {dup} then [{last_values}]
            when ok then json_extract_string(line, {json_paths})
        end as v
    from keyed
),
typed as (
    -- JSON types without a third parse: the line is an object when it opens with a brace (it is valid
    -- JSON, and LF and CR never occur in it), the payload when it has keys; json_type runs only for an
    -- empty payload and for an instanceId whose whole text reads as a number (NaN and Infinity included:
    -- the reader accepts them), true, false, an object or array: what json_extract_string gives for a
    -- value that is no string (a UUID, even one opening with a digit, is a string without a parse)
    select
        *,
        [
            case when ok then case when starts_with(ltrim(line, ' 	'), '{{') then 'OBJECT' else 'OTHER' end end,
            case
                when {dup} then json_type(pings_last_value(line, 'payload'))
                when object_keys[2] is null then null
                when len(object_keys[2]) > 0 then 'OBJECT'
                else json_type(line, '$.payload')
            end,
            case
                when v[4] is null then null
                when {dup} then json_type(pings_last_value(pings_last_value(line, 'payload'), 'instanceId'))
                when regexp_full_match(v[4], '[-+]?(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(e[-+]?[0-9]+)?|nan|inf(inity)?)|true|false|[\\[{{].*', 'si')
                    then json_type(line, '$.payload.instanceId')
                else 'VARCHAR'
            end
        ] as types
    from extracted
),
shaped as (
    select
        load_id,
        ln,
        name || ':' || ln as location,
        coalesce(line, '') as raw,
        ok and types[2] = 'OBJECT' as payload_object,
        case
            when not ok then 'not_json'
            when types[1] <> 'OBJECT' or coalesce(types[2], '') <> 'OBJECT' then 'not_object'
        end as reason,
        types[3] as instance_id_type,
        v[4] as instance_id,
        v[1] as received_at_text,
        coalesce(v[2], v[3]) as ip,
        -- the keys at the known objects decide the payload's keys when every opening brace in the line
        -- opens one of them (none empty): no other object (unknown, empty, in an array) holds a key they miss
        not {dup} and strlen(line) - strlen(replace(line, '{{', '')) = {objects_with_keys} as plain,
        dup,
        object_keys,
        {columns}
    from typed
),
final as (
    select
        * exclude (payload_object, plain, object_keys),
        -- negative: a ping-log shape, the hash of the keys at the known objects (walked lines: set in fixup)
        case when payload_object and plain then -1 - (hash(object_keys) >> 1)::bigint end as payload_shape,
        payload_object and not plain as walk   -- a dup line is walked (from its last payload)
    from shaped
)
select * from final
"""

#: the lines of ping-log files ({paths}: a SQL list of paths) as text, split on LF only, with their file names; the
#: lines the reader cannot take (not UTF-8, over its size limit) go to the tables pinglog_rejects and pinglog_scans
READ_LINES = """read_csv({paths}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x1f',
                  quote = '', escape = '', auto_detect = false, strict_mode = false,
                  null_padding = false, filename = true,
                  store_rejects = true, rejects_table = 'pinglog_rejects', rejects_scan = 'pinglog_scans')"""

#: the new lines of file parts: read as text (split on LF only), numbered per file, tested as JSON
FILE_ROWS = """parts(path, name, load_id, first_line, lines) as (
    values {parts}
),
lines as (
    select row_number() over () as g, filename, line
    from """ + READ_LINES + """
),
counted as (
    select l.*, p.*, g - min(g) over (partition by l.filename) + 1 as k   -- k-th line read of the part
    from lines l
    join parts p on p.path = l.filename
),
numbered as (
    select
        load_id,
        k + first_line - 1 as ln,   -- line number in the file (shifted by fix_rejects when lines were rejected)
        name,
        line,
        coalesce(json_valid(line), false) as ok
    from counted
    where k <= lines               -- lines appended after the part was planned wait for the next refresh
)"""

#: lines whose keys repeat (fixup puts them in `dup_lines`), read again
DUP_ROWS = """numbered as (
    select load_id, ln, name, line, coalesce(json_valid(line), false) as ok from dup_lines
)"""

JSON_PATHS = "[" + ", ".join(lit(p) for p in _PATHS) + "]"
#: how many paths JSON_PATHS lists (v[1] .. v[PATH_COUNT] in BATCH)
PATH_COUNT = len(_PATHS)




def last_value_sql(keys: list[str]) -> str:
    """Return SQL for the text under keys [a, b] of `line`, each key's last value (json_extract_string's text)."""
    expr = "line"
    for key in keys:
        expr = f"pings_last_value({expr}, {lit(key)})"
    return f"({expr}) ->> '$'"


LAST_VALUES = ", ".join(last_value_sql(keys) for keys in _KEYS)

COLUMNS = ",\n        ".join(f"v[{i + 5}] as {quoted(f)}" for i, f in enumerate(FIELDS))

# the line and every object a known field sits in: json_keys lists their keys (one parse for all)
_OBJECTS = sorted({".".join(f.split(".")[:i]) for f in FIELDS for i in range(1, len(f.split(".")))})
OBJECT_PATHS = "[" + ", ".join(lit(p) for p in ["$", "$.payload", *(json_path(o) for o in _OBJECTS)]) + "]"
# how many of those objects are non-empty objects (a scalar or an empty object lists no key)
OBJECTS_WITH_KEYS = " + ".join(f"(coalesce(len(object_keys[{i}]), 0) > 0)::int" for i in range(1, len(_OBJECTS) + 3))


def files_of(source: str) -> list[Path]:
    """Return the ping-log files of a source (a file, or a folder searched recursively), sorted."""
    path = Path(source)
    if path.is_dir():
        found = {p for pattern in PATTERNS for p in path.rglob(pattern)}
        return sorted(found)
    if not path.exists():
        raise FileNotFoundError(f"ping-log source not found: {source}")
    return [path]


# the last value of a key in a JSON object (NULL when obj is no object or lacks it): what JSON.parse keeps;
# whether a line repeats a key in its top object, its payload or an object a known field sits in
MACROS = f"""
create or replace temp macro pings_last_value(obj, k) as
    list_reverse(cast(json_extract(obj::json, '$.*') as json[]))[list_position(list_reverse(json_keys(obj::json)), k)];
create or replace temp macro pings_keys_repeat(line) as
    coalesce(list_bool_or(list_transform(json_keys(line, {OBJECT_PATHS}), lambda k: len(k) <> list_unique(k))), false);
"""


def batch_sql(view: str, rows: str, dup: bool) -> str:
    """Return the statement making the batch view `view` of the lines `rows` gives (see BATCH)."""
    return BATCH.format(view=view, rows=rows, dup=str(dup).lower(), json_paths=JSON_PATHS, columns=COLUMNS,
                        last_values=LAST_VALUES, object_paths=OBJECT_PATHS, objects_with_keys=OBJECTS_WITH_KEYS)


def land_parts(con, parts: list[Part], source: str) -> dict[int, Counts]:
    """Land the ping-log lines of several file parts in one statement; counts per load_id."""
    rows = ", ".join(
        f"({lit(str(p.read_path))}, {lit(p.name)}, {lit(p.load_id)}, {lit(p.first_line)}, {lit(p.lines)})"
        for p in parts
    )
    paths = "[" + ", ".join(lit(str(p.read_path)) for p in parts) + "]"
    con.execute("drop table if exists pinglog_rejects; drop table if exists pinglog_scans")
    con.execute(MACROS)
    con.execute(batch_sql("batch", FILE_ROWS.format(parts=rows, paths=paths), dup=False))
    counts = land(con, source, fixup=lambda c: fixup(c, rows))
    con.execute("drop view batch; drop table if exists pinglog_rejects; drop table if exists pinglog_scans")
    return counts


# the reader's error types -> quarantine reasons (anything else it rejects is not a JSON line either)
REJECT_REASONS = {"INVALID ENCODING": "not_utf8", "LINE SIZE OVER MAXIMUM": "line_too_long"}

FIX_REJECTS = """
create or replace temp table rejected as
with parts(path, name, load_id, first_line, lines) as (
    values {parts}
),
rejects as (
    select s.file_path as path, r.line, arg_min(r.error_type, r.byte_position) as error_type,
           arg_min(r.csv_line, r.byte_position) as csv_line
    from pinglog_rejects r
    join pinglog_scans s using (scan_id, file_id)
    group by all
),
final as (
    select
        p.load_id,
        r.line + p.first_line - 1 as ln,
        row_number() over (partition by p.load_id order by r.line) as j,   -- j-th rejected line of the part
        p.name || ':' || (r.line + p.first_line - 1) as location,
        left(r.csv_line, 1000) as raw,
        case r.error_type {reasons} else 'not_json' end as reason
    from rejects r
    join parts p on p.path = r.path
    where r.line <= p.lines
)
select * from final
"""


# payload keys: every leaf's dotted path under payload, known or not (array elements and empty objects
# are no keys; address-shaped keys are dropped)
LEAF_KEYS = """list_sort(list_distinct(list(substr(t.fullkey, length('$.payload.') + 1))))"""
LEAF = "t.type <> 'OBJECT' and t.fullkey not like '%[%' and not {has_address}"

# lines whose keys the known objects do not decide: walked one by one, each given the shape of its key list;
# a line with a key twice (dup) keeps only the live nodes: each the last of its name among its siblings,
# under a live parent (what JSON.parse keeps)
WALKED = """
create or replace temp table walked as
with recursive tree as (
    select c.load_id, c.ln, t.id, t.parent, t.key, t.type, t.fullkey
    from classified c, json_tree(c.raw) t
    where c.walk and c.dup
),
marked as (
    select *, key is null or id = max(id) over (partition by load_id, ln, parent, key) as last from tree
),
live as (
    select load_id, ln, id, type, fullkey from marked where parent is null
    union all
    select m.load_id, m.ln, m.id, m.type, m.fullkey
    from marked m
    join live l on m.load_id = l.load_id and m.ln = l.ln and m.parent = l.id
    where m.last
),
leaves as (
    select c.load_id, c.ln, t.type, t.fullkey
    from classified c, json_tree(c.raw, '$.payload') t
    where c.walk and not c.dup
    union all
    select load_id, ln, type, fullkey from live where starts_with(fullkey, '$.payload.')
),
walked as (
    select t.load_id, t.ln, {keys} as keys
    from leaves t
    where {leaf}
    group by all
)
select load_id, ln, -1 - (hash(keys) >> 1)::bigint as shape, keys from walked
"""

# the shapes of this batch not stored yet, one line of each (rows of a shape share their key lists)
NEW_SHAPES = """
new_shapes as (
    select payload_shape as shape, arg_min(raw, ln) as raw
    from classified
    where payload_shape is not null and payload_shape not in (select shape from payload_shapes)
    group by payload_shape
)"""

# the other shapes of this batch not stored yet: keys walked once per shape, from one line of it
SHAPES = """
insert into payload_shapes (shape, keys)
with {new_shapes},
walked as (
    select b.shape, {keys} as keys
    from new_shapes b, json_tree(b.raw, '$.payload') t
    where {leaf}
    group by all
),
final as (
    select b.shape, coalesce(w.keys, []::varchar[]) as keys
    from new_shapes b
    left join walked w using (shape)
)
select * from final
"""


# the lines of this batch whose key lists repeat a key in one object: per new shape, one of its lines tells
# (rows of a shape share their key lists); a line without a shape (walked or quarantined) is tested alone.
# A shape whose keys repeat is never stored, so its lines keep their text and are found here again.
DUPLICATE_KEYS = f"""
create or replace temp table dup_lines as
with {NEW_SHAPES},
repeating as (
    select shape from new_shapes where pings_keys_repeat(raw)
),
final as (
    select load_id, ln, regexp_replace(location, ':[0-9]+$', '') as name, raw as line
    from classified
    where payload_shape in (select shape from repeating)
       or (payload_shape is null and coalesce(json_valid(raw), false) and pings_keys_repeat(raw))
)
select * from final
"""


def redo_duplicate_keys(con) -> None:
    """Classify again, reading each key's last value, the lines of `classified` whose keys repeat (rare)."""
    con.execute(DUPLICATE_KEYS)
    if con.execute("select count(*) from dup_lines").fetchall()[0][0]:
        con.execute(batch_sql("dup_batch", DUP_ROWS, dup=True))
        con.execute(classify_sql("dup_batch", "reclassified"))
        con.execute("delete from classified c using dup_lines d where c.load_id = d.load_id and c.ln = d.ln")
        con.execute("insert into classified by name select * from reclassified")
        con.execute("drop table reclassified; drop view dup_batch")
    con.execute("drop table dup_lines")


def fixup(con, parts_sql: str) -> None:
    """Amend `classified`: lines whose keys repeat read again, new payload shapes stored (odd lines walked
    alone), the lines the reader rejected added."""
    redo_duplicate_keys(con)
    leaf = LEAF.format(has_address=has_address_sql("t.fullkey"))
    if con.execute("select count(*) from classified where walk").fetchall()[0][0]:
        con.execute(WALKED.format(keys=LEAF_KEYS, leaf=leaf))
        con.execute("update classified c set payload_shape = w.shape from walked w"
                    " where c.walk and c.load_id = w.load_id and c.ln = w.ln")
        con.execute("insert into payload_shapes (shape, keys) select distinct shape, keys from walked"
                    " where shape not in (select shape from payload_shapes)")
        con.execute("drop table walked")
    con.execute(SHAPES.format(keys=LEAF_KEYS, leaf=leaf, new_shapes=NEW_SHAPES))
    fix_rejects(con, parts_sql)


def fix_rejects(con, parts_sql: str) -> None:
    """Put the lines the reader rejected into `classified` (quarantined) and renumber the lines after them."""
    if not con.execute("select count(*) from pinglog_rejects").fetchall()[0][0]:
        return
    reasons = " ".join(f"when {lit(k)} then {lit(v)}" for k, v in REJECT_REASONS.items())
    con.execute(FIX_REJECTS.format(parts=parts_sql, reasons=reasons))
    # the k-th line read is line k plus the rejected lines before it (a rejected line j sits at r = k + j - 1)
    con.execute("""
        update classified c set
            ln = c.ln + s.shift,
            location = regexp_replace(c.location, ':[0-9]+$', '') || ':' || (c.ln + s.shift)
        from (
            select c2.load_id, c2.ln, count(*) as shift
            from classified c2
            join rejected r on r.load_id = c2.load_id and r.ln - r.j < c2.ln
            group by all
        ) s
        where s.load_id = c.load_id and s.ln = c.ln""")
    con.execute("""
        insert into classified by name
        select load_id, ln, location, raw, reason, reason as final_reason, false as addr from rejected""")
    # a part ends at its counted lines: drop rows that renumbering pushed past it
    con.execute(f"""
        delete from classified c
        using (select * from (values {parts_sql}) p(path, name, load_id, first_line, lines)) p
        where c.load_id = p.load_id and c.ln > p.lines + p.first_line - 1""")
    con.execute("drop table rejected")


def _files(source: str) -> list[tuple[Path, str]]:
    """Return the ping-log files of a source with their display names (relative to a folder source)."""
    root = Path(source)
    return [(p, str(p.relative_to(root)) if root.is_dir() else p.name) for p in files_of(source)]


def load(con, source: str, progress=None) -> Outcome:
    """Load what is new in every ping-log file of a source."""
    stored = label(con, source)
    return load_files(con, source, _files(source), lambda c, parts: land_parts(c, parts, stored), progress=progress)


def preview(con, source: str) -> Preview:
    """Return the complete new lines a refresh would read now and the files holding them (writes nothing)."""
    return preview_files(con, source, _files(source), header=False)
