"""The one payload field list: dotted collector column name, kind (text/count/flag), staging column, cast.

Everything else derives from `PAYLOAD`: the landing columns (`FIELDS`), the JSON paths of ping-log
lines, the staging casts in stg_pings, the invalid-value checks in int_invalid_values and the
simulator's payload builder (`nested`, `by_kind`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: the SQL macro (transform/sql/macros.sql) each kind is cast with in staging, unless a field names its own
KIND_CAST = {"text": "to_text", "count": "to_count", "flag": "to_flag"}


#: the first FlowForge version that sent the keys every version sends (instanceId, versions, os, users, ...)
FIRST_VERSION = "0.2.0"


@dataclass(frozen=True)
class Field:
    """One payload field: dotted name, kind (text/count/flag), staging column, staging cast macro, first sender."""

    name: str           # dotted collector column name = JSON path inside the payload
    kind: str           # text | count | flag
    column: str         # the staging (stg_pings) column it becomes
    cast: str = ""      # the macro staging applies; default: KIND_CAST[kind]
    since: str = FIRST_VERSION   # the first FlowForge version that sent the key (PINGS.md): older senders never did

    @property
    def macro(self) -> str:
        """Return the name of the SQL macro that types this field in staging."""
        return self.cast or KIND_CAST[self.kind]

    @property
    def path(self) -> list[str]:
        """Return the keys leading to the value inside a payload object."""
        return self.name.split(".")


#: every payload key the collector table has held, in its dotted column form (PINGS.md), in landing order
PAYLOAD: list[Field] = [
    Field("env.flowforge", "text", "version", "to_version"),
    Field("env.nodejs", "text", "nodejs_version"),
    Field("os.type", "text", "os_type", "to_label"),
    Field("os.release", "text", "os_release"),
    Field("os.arch", "text", "os_arch", "to_label"),
    Field("platform.config.driver", "text", "driver", "to_lower_label"),
    Field("platform.config.broker.enabled", "flag", "broker_enabled", since="1.2.0"),
    Field("platform.config.email.enabled", "flag", "email_enabled", since="1.2.0"),
    Field("platform.config.fileStore.enabled", "flag", "file_store_enabled", since="1.2.0"),
    Field("platform.counts.users", "count", "users"),
    Field("platform.counts.teams", "count", "teams"),
    Field("platform.counts.projects", "count", "projects"),
    Field("platform.counts.devices", "count", "devices", since="0.6.0"),
    Field("platform.counts.projectSnapshots", "count", "project_snapshots", since="0.6.0"),
    # the sender swaps these two (PINGS.md): projectStacks carries the template count and
    # projectTemplates the stack count; staging swaps them back
    Field("platform.counts.projectStacks", "count", "project_templates", since="0.6.0"),
    Field("platform.counts.projectTemplates", "count", "project_stacks", since="0.6.0"),
    Field("platform.counts.libraryEntries", "count", "library_entries", since="1.3.0"),
    Field("platform.counts.sharedLibraryEntries", "count", "shared_library_entries", since="1.3.0"),
    Field("platform.counts.projectsByState.suspended", "count", "projects_suspended", since="1.7.0"),
    Field("platform.counts.blueprints", "count", "blueprints", since="2.7.0"),
    Field("platform.counts.teamBrokerClients", "count", "team_broker_clients", since="2.11.0"),
    Field("platform.counts.devicesByLastSeen.never", "count", "devices_never_seen", since="2.15.0"),
    Field("platform.counts.devicesByLastSeen.day", "count", "devices_seen_day", since="2.15.0"),
    Field("platform.counts.remoteBrokers", "count", "remote_brokers", since="2.15.0"),
    Field("platform.license.id", "text", "license_id", since="1.5.0"),
    Field("platform.license.type", "text", "license_type", "to_upper_label", since="1.5.0"),
]

#: the dotted names, in landing order (raw_pings columns)
FIELDS: list[str] = [f.name for f in PAYLOAD]

#: older column names a collector table or export may still carry -> the current name
RENAMED: dict[str, str] = {
    "createdAt": "created_at",
    "platform.counts.projects.suspended": "platform.counts.projectsByState.suspended",
}


def version_rank(version: str) -> int:
    """Return a sortable number of an X.Y.Z version: 2.7.0 -> 2007000 (the staging macro version_rank in SQL)."""
    major, minor, patch = (int(part) for part in version.split("."))
    return major * 1_000_000 + minor * 1_000 + patch


#: every key a ping can carry that the collector knows, with the version that first sent it (PINGS.md)
KEY_SINCE: dict[str, str] = {"instanceId": FIRST_VERSION, **{f.name: f.since for f in PAYLOAD}}

#: the versions at which senders started sending new keys, oldest first: a sender's "key era" is how many
#: of them its version has reached
SINCE_VERSIONS: list[str] = sorted(set(KEY_SINCE.values()), key=version_rank)

#: the first table's columns (migration 00000000, dropped in 20230106/07) the collector filled itself:
#: no payload key, never a new-column alert
COLLECTOR_ONLY: list[str] = ["weekYear", "weekStartDate", "isDev"]


def by_kind(kind: str) -> list[Field]:
    """Return the fields of one kind (text, count or flag), in landing order."""
    return [f for f in PAYLOAD if f.kind == kind]


def field(name: str) -> Field:
    """Return the field with a dotted name (KeyError when unknown)."""
    for f in PAYLOAD:
        if f.name == name:
            return f
    raise KeyError(name)


def nested(values: dict[str, object]) -> dict:
    """Return a payload object from {dotted name: value}: {'a.b': 1} -> {'a': {'b': 1}} (None values kept)."""
    out: dict = {}
    for name, value in values.items():
        *parents, leaf = name.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out


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
