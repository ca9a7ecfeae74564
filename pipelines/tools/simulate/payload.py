"""How the simulated pings are written: the nested payload per version and the collector's table eras."""

from __future__ import annotations

# the collector table's history (PINGS.md), as dates the simulated collector applied each change
CREATED_AT_RENAMED = "2022-07-01"   # `createdAt` before this day, `created_at` after
ERA_COLUMNS = [  # (first day the column existed, column name, default for older rows or missing keys)
    ("2023-01-10", "platform.counts.libraryEntries", None),
    ("2023-01-10", "platform.counts.sharedLibraryEntries", None),
    ("2023-02-24", "platform.license.id", None),
    ("2023-02-24", "platform.license.type", None),
    ("2023-04-20", "platform.counts.projectsByState.suspended", "0"),  # as projects.suspended until 2023-05-15
    ("2024-07-01", "platform.counts.blueprints", "0"),
    ("2024-10-01", "platform.counts.teamBrokerClients", "0"),
    ("2025-02-01", "platform.counts.devicesByLastSeen.never", "0"),
    ("2025-02-01", "platform.counts.devicesByLastSeen.day", "0"),
    ("2025-02-01", "platform.counts.remoteBrokers", "0"),
]
SUSPENDED_RENAMED = "2023-05-15"
PLAIN_IP_FROM = "2024-06-26"       # the collector stored base64 SHA-256 before, the plain address after
BASE_COLUMNS = [
    "created_at", "instanceId", "ip", "env.flowforge", "env.nodejs", "os.arch", "os.release", "os.type",
    "platform.config.driver", "platform.counts.projects", "platform.counts.teams", "platform.counts.users",
    "platform.counts.devices", "platform.counts.projectSnapshots", "platform.counts.projectStacks",
    "platform.counts.projectTemplates", "platform.config.broker.enabled", "platform.config.email.enabled",
    "platform.config.fileStore.enabled",
]

# value expression (DuckDB SQL over the simulated pings table) and the key flag that gates it
COLUMN_SQL = {
    "created_at": ("strftime(make_timestamp(ts * 1000), '%Y-%m-%d %H:%M:%S.%g')", None),
    "instanceId": ("uid", None),
    "ip": (f"case when ts < epoch_ms(date '{PLAIN_IP_FROM}') then to_base64(unhex(sha256(ip))) else ip end", None),
    "env.flowforge": ("version", None),
    "env.nodejs": ("nodejs", None),
    "os.arch": ("os_arch", None),
    "os.release": ("os_release", None),
    "os.type": ("os_type", None),
    "platform.config.driver": ("driver", None),
    "platform.counts.projects": ("projects::varchar", None),
    "platform.counts.teams": ("teams::varchar", None),
    "platform.counts.users": ("users::varchar", None),
    "platform.counts.devices": ("devices::varchar", None),
    "platform.counts.projectSnapshots": ("snapshots::varchar", None),
    # the sender's swap: projectStacks carries the template count and projectTemplates the stack count
    "platform.counts.projectStacks": ("templates::varchar", None),
    "platform.counts.projectTemplates": ("stacks::varchar", None),
    "platform.config.broker.enabled": ("case when broker then 't' else 'f' end", None),
    "platform.config.email.enabled": ("case when email then 't' else 'f' end", None),
    "platform.config.fileStore.enabled": ("case when file_store then 't' else 'f' end", None),
    "platform.counts.libraryEntries": ("library::varchar", "has_library"),
    "platform.counts.sharedLibraryEntries": ("shared_library::varchar", "has_library"),
    "platform.license.id": ("licence_id", "has_license"),
    "platform.license.type": ("licence", "has_license"),
    "platform.counts.projectsByState.suspended": ("suspended::varchar", "has_suspended"),
    "platform.counts.blueprints": ("blueprints::varchar", "has_blueprints"),
    "platform.counts.teamBrokerClients": ("team_broker_clients::varchar", "has_team_broker_clients"),
    "platform.counts.devicesByLastSeen.never": ("devices_never::varchar", "has_devices_by_last_seen"),
    "platform.counts.devicesByLastSeen.day": ("devices_day::varchar", "has_devices_by_last_seen"),
    "platform.counts.remoteBrokers": ("remote_brokers::varchar", "has_devices_by_last_seen"),
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
        if flag:
            fallback = f"'{default}'" if default is not None else "null"
            expr = f"case when {flag} and ts >= epoch_ms(date '{added}') then {expr} else {fallback} end"
        parts.append(f'{expr} as "{header}"')
    return ",\n    ".join(parts)


PAYLOAD_SQL = """
json_object(
    'received_at', strftime(make_timestamp(ts * 1000), '%Y-%m-%dT%H:%M:%S.%gZ'),
    'ip_hash', ip_key(ip),
    'payload', json_object(
        'instanceId', uid,
        'os', json_object('type', os_type, 'release', os_release, 'arch', os_arch),
        'env', json_object('nodejs', nodejs, 'flowforge', version),
        'platform', case when has_license then json_object(
            'counts', {counts},
            'config', {config},
            'license', json_object('id', licence_id, 'type', licence)
        ) else json_object('counts', {counts}, 'config', {config}) end
    )
)::varchar
"""
CONFIG_SQL = ("json_object('driver', driver, 'broker', json_object('enabled', broker),"
              " 'fileStore', json_object('enabled', file_store), 'email', json_object('enabled', email))")
COUNT_KEYS = [  # (json key, column, key flag)
    ("users", "users", None), ("teams", "teams", None), ("projects", "projects", None),
    ("devices", "devices", None), ("projectSnapshots", "snapshots", None),
    ("projectTemplates", "stacks", None), ("projectStacks", "templates", None),
    ("libraryEntries", "library", "has_library"), ("sharedLibraryEntries", "shared_library", "has_library"),
    ("projectsByState", "json_object('suspended', suspended)", "has_suspended"),
    ("blueprints", "blueprints", "has_blueprints"),
    ("teamBrokerClients", "team_broker_clients", "has_team_broker_clients"),
    ("devicesByLastSeen", "json_object('never', devices_never, 'day', devices_day)", "has_devices_by_last_seen"),
    ("remoteBrokers", "remote_brokers", "has_devices_by_last_seen"),
]
LEVEL_FLAGS = ["has_library", "has_suspended", "has_blueprints", "has_team_broker_clients", "has_devices_by_last_seen"]


def counts_sql() -> str:
    """Return SQL for the counts object: the keys the sending version knows (flags rise with versions)."""
    branches = []
    for level in range(len(LEVEL_FLAGS), -1, -1):
        known = set(LEVEL_FLAGS[:level])
        keys = [(k, c) for k, c, flag in COUNT_KEYS if flag is None or flag in known]
        obj = "json_object(" + ", ".join(f"'{k}', {c}" for k, c in keys) + ")"
        cond = LEVEL_FLAGS[level - 1] if level else "true"
        branches.append(f"when {cond} then {obj}")
    return "case " + " ".join(branches) + " end"


def line_sql() -> str:
    """Return the SQL expression of one ping-log line."""
    return PAYLOAD_SQL.format(counts=counts_sql(), config=CONFIG_SQL)
