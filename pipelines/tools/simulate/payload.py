"""How the simulated pings are written: the nested payload per version and the collector's table eras."""

from __future__ import annotations

from ... import fields
from .fleet import KEY_FLAG, KEY_FROM, UNKNOWN_KEYS

# the collector table's history (PINGS.md: its migrations), as the days the simulated collector applied each
CREATED_AT_RENAMED = "2023-01-05"   # `createdAt` before this day, `created_at` after
ERA_COLUMNS = [  # (first day the column existed, column name, what rows stored before it read afterwards)
    ("2023-01-17", "platform.counts.libraryEntries", None),
    ("2023-01-17", "platform.counts.sharedLibraryEntries", None),
    ("2023-02-24", "platform.license.id", None),
    ("2023-02-24", "platform.license.type", None),
    # added without a default (older rows stay NULL), as projects.suspended until 2023-05-04
    ("2023-04-27", "platform.counts.projectsByState.suspended", None),
    # ADD COLUMN ... DEFAULT 0 writes 0 into every row already in the table
    ("2024-07-16", "platform.counts.blueprints", "0"),
    ("2024-10-28", "platform.counts.teamBrokerClients", "0"),
    ("2025-02-28", "platform.counts.devicesByLastSeen.never", "0"),
    ("2025-02-28", "platform.counts.devicesByLastSeen.day", "0"),
    ("2025-02-28", "platform.counts.remoteBrokers", "0"),
]
SUSPENDED_RENAMED = "2023-05-04"
PLAIN_IP_FROM = "2024-06-26"       # the collector stored base64 SHA-256 before, the plain address after
# the value of each payload key as a DuckDB SQL expression over the simulated pings table (`sim`)
SIM_VALUE = {
    "instanceId": "uid",
    "env.flowforge": "version",
    "env.nodejs": "nodejs",
    "os.type": "os_type",
    "os.release": "os_release",
    "os.arch": "os_arch",
    "platform.config.driver": "driver",
    "platform.config.broker.enabled": "broker",
    "platform.config.email.enabled": "email",
    "platform.config.fileStore.enabled": "file_store",
    "platform.counts.users": "users",
    "platform.counts.teams": "teams",
    "platform.counts.projects": "projects",
    "platform.counts.devices": "devices",
    "platform.counts.projectSnapshots": "snapshots",
    # the sender's swap: projectStacks carries the template count and projectTemplates the stack count
    "platform.counts.projectStacks": "templates",
    "platform.counts.projectTemplates": "stacks",
    "platform.counts.libraryEntries": "library",
    "platform.counts.sharedLibraryEntries": "shared_library",
    "platform.counts.projectsByState.suspended": "suspended",
    "platform.counts.blueprints": "blueprints",
    "platform.counts.teamBrokerClients": "team_broker_clients",
    "platform.counts.deviceGroups": "device_groups",
    "platform.counts.devicesByLastSeen.never": "devices_never",
    "platform.counts.devicesByLastSeen.day": "devices_day",
    "platform.counts.remoteBrokers": "remote_brokers",
    "platform.license.id": "licence_id",
    "platform.license.type": "licence",
}
#: every key a simulated platform can send: the instance id, the collector's fields, and keys it never learnt
PAYLOAD_KEYS = ["instanceId", *fields.FIELDS, *UNKNOWN_KEYS]
_missing = [k for k in PAYLOAD_KEYS if k not in SIM_VALUE]
if _missing:
    raise RuntimeError(f"the simulator has no value for payload keys {_missing}")

_ERA_NAMES = {name for _, name, _ in ERA_COLUMNS}
BASE_COLUMNS = ["created_at", "instanceId", "ip", *(f for f in fields.FIELDS if f not in _ERA_NAMES)]


def _flag_column(name: str) -> str | None:
    """Return the `has_<flag>` column gating a payload key, or None when every version sends it."""
    flag = KEY_FLAG.get(name)
    return f"has_{flag}" if flag else None


def _text(expr: str, name: str) -> str:
    """Return the CSV text of a value: flags as t/f, counts as digits, text as is."""
    kind = fields.field(name).kind if name in fields.FIELDS else "text"
    if kind == "flag":
        return f"case when {expr} then 't' else 'f' end"
    return f"{expr}::varchar" if kind == "count" else expr


# value expression (DuckDB SQL over the simulated pings table) and the key flag that gates it
COLUMN_SQL = {
    "created_at": ("strftime(make_timestamp(ts * 1000), '%Y-%m-%d %H:%M:%S.%g')", None),
    "ip": (f"case when ts < epoch_ms(date '{PLAIN_IP_FROM}') then to_base64(unhex(sha256(ip))) else ip end", None),
    **{name: (_text(SIM_VALUE[name], name), _flag_column(name)) for name in ["instanceId", *fields.FIELDS]},
}


def table_columns(on_day: str) -> list[tuple[str, str | None, str | None, str]]:
    """Return the collector table's columns on a day: (header name, added on, default, canonical name)."""
    cols = [("createdAt" if c == "created_at" and on_day < CREATED_AT_RENAMED else c, None, None, c)
            for c in BASE_COLUMNS]
    for added, name, default in ERA_COLUMNS:
        if added <= on_day:
            header = name
            if name.endswith("projectsByState.suspended") and on_day < SUSPENDED_RENAMED:
                header = "platform.counts.projects.suspended"
            cols.append((header, added, default, name))
    return cols


def csv_select(on_day: str) -> str:
    """Return a SELECT list writing the pings as the collector table held them on `on_day`."""
    parts = []
    for header, added, default, name in table_columns(on_day):
        expr, flag = COLUMN_SQL[name]
        if flag:    # the collector's INSERT names every column: a key the ping lacks is an explicit NULL
            expr = f"case when {flag} then {expr} end"
        if added:   # rows stored before the column existed read its default (or NULL) afterwards
            before = f"'{default}'" if default is not None else "null"
            expr = f"case when ts < epoch_ms(date '{added}') then {before} else {expr} end"
        parts.append(f'{expr} as "{header}"')
    return ",\n    ".join(parts)


#: the version flags in the order versions gained them (each version sends the keys of all earlier flags)
LEVELS = sorted(set(KEY_FLAG.values()), key=lambda f: tuple(int(x) for x in KEY_FROM[f].split(".")))


def _object_sql(keys: list[str]) -> str:
    """Return a nested json_object(...) SQL expression holding the given dotted keys."""
    tree = fields.nested({k: SIM_VALUE[k] for k in keys})

    def build(node) -> str:
        """Return a leaf's SQL, or a json_object of a subtree."""
        if isinstance(node, str):
            return node
        return "json_object(" + ", ".join(f"'{k}', {build(v)}" for k, v in node.items()) + ")"

    return build(tree)


def payload_sql() -> str:
    """Return SQL for the payload object: the keys the sending version knows (flags rise with versions)."""
    branches = []
    for level in range(len(LEVELS), -1, -1):
        known = set(LEVELS[:level])
        keys = [k for k in PAYLOAD_KEYS if KEY_FLAG.get(k) is None or KEY_FLAG[k] in known]
        cond = f"has_{LEVELS[level - 1]}" if level else "true"
        branches.append(f"when {cond} then {_object_sql(keys)}")
    return "case " + " ".join(branches) + " end"


def line_sql() -> str:
    """Return the SQL expression of one ping-log line."""
    return ("json_object('received_at', strftime(make_timestamp(ts * 1000), '%Y-%m-%dT%H:%M:%S.%gZ'),"
            f" 'ip_hash', ip_key(ip), 'payload', {payload_sql()})::varchar")
