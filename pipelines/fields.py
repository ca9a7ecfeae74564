"""The ping fields the warehouse lands: dotted collector column name -> JSON path in a payload."""

from __future__ import annotations

#: every payload key the collector table has held, in its dotted column form (PINGS.md)
FIELDS: list[str] = [
    "env.flowforge",
    "env.nodejs",
    "os.type",
    "os.release",
    "os.arch",
    "platform.config.driver",
    "platform.config.broker.enabled",
    "platform.config.email.enabled",
    "platform.config.fileStore.enabled",
    "platform.counts.users",
    "platform.counts.teams",
    "platform.counts.projects",
    "platform.counts.devices",
    "platform.counts.projectSnapshots",
    "platform.counts.projectStacks",
    "platform.counts.projectTemplates",
    "platform.counts.libraryEntries",
    "platform.counts.sharedLibraryEntries",
    "platform.counts.projectsByState.suspended",
    "platform.counts.blueprints",
    "platform.counts.teamBrokerClients",
    "platform.counts.devicesByLastSeen.never",
    "platform.counts.devicesByLastSeen.day",
    "platform.counts.remoteBrokers",
    "platform.license.id",
    "platform.license.type",
]

#: older column names a collector table or export may still carry -> the current name
RENAMED: dict[str, str] = {
    "createdAt": "created_at",
    "platform.counts.projects.suspended": "platform.counts.projectsByState.suspended",
}


def quoted(name: str) -> str:
    """Return a column name double-quoted for SQL (dotted names need it)."""
    return '"' + name.replace('"', '""') + '"'


def json_path(name: str) -> str:
    """Return the JSON path of a dotted field inside a ping-log line's payload."""
    return "$.payload." + ".".join(f'"{part}"' for part in name.split("."))


def lit(value) -> str:
    """Return a SQL literal for a str or int (for views, which cannot take prepared parameters)."""
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
