"""A model's declaration: its kind and fields, parsed once from its header into a typed object.

The header is ONE line among a model file's leading comments, the body of a TOML inline table:

    -- model: kind = "by_date", grain = "week", cut = ["instance_weeks"]

Kinds (what the engine does with the model; see docs/models.md):
- `view`: a view. With `key`, its checks read only the rows sharing a key with the new rows.
- `table`: rebuilt whole when its SQL or anything it reads changed.
- `by_key`: the rows of the keys the new rows touch are deleted and computed again from `input`
  (the relations it re-reads, cut to those keys). `period` names a key column that is the utc
  day, week or month of an input column: the input is also cut to the touched periods, and a full
  build reads one group of whole periods at a time.
- `by_date`: keyed by one date column (`column`, the utc `grain` start: day, monday or first of the
  month). The dates the new rows reach are rebuilt, widened by `restate` days after (or "all": through
  the last date, for walks), reading `lookback` days before; the import CTEs named in `cut` read only
  that span. Without lookback or restate a full build runs one group of dates at a time.
- `fold`: over an append-only relation (`changes` names it): the model runs over the new rows alone and
  each touched key's old and new rows are merged with `merge` ({column = "min" | "max" | "sum"} for
  every non-key column); `merge = {}` keeps a set of distinct keys. A full build is one pass over
  every row.

Fields any kind may set: `time_column` (the date column readers filter a mart's rows by) and
`partition` ("month": the mart's parquet is a folder with one file per utc month of `time_column`).
Incremental kinds (and a keyed view) find new rows by `changes`, the `relation.column` of the load id
(default staging.stg_pings.load_id). Templates (`.sql.j2`) may add `each = {model = {variables}}` to
make several models from one file.

A wrong, missing or misplaced field is a ModelError naming the file and the field, raised at discovery,
before anything is built.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from typing import ClassVar

from sqlglot import exp

HEADER = "-- model:"
DEFAULT_CHANGES = "staging.stg_pings.load_id"
GRAINS = ("day", "week", "month")
MERGES = ("min", "max", "sum")
PARTITIONS = ("month",)


class ModelError(ValueError):
    """A model that cannot be used: bad header or field, unparseable SQL, a dependency cycle."""


@dataclass(frozen=True)
class Period:
    """A key column holding the utc day, week (monday) or month (first day) of an input column."""

    column: str
    grain: str
    source: str

    def of(self, table: str | None = None) -> exp.Expression:
        """Return `cast(date_trunc(grain, <table>.source) as date)`: the period of a row."""
        return exp.cast(exp.func("date_trunc", exp.Literal.string(self.grain),
                                 exp.column(self.source, table=table, quoted=True)), exp.DataType.build("date"))


@dataclass(frozen=True)
class Kind:
    """What every kind declares: the time column readers filter by and the parquet layout."""

    name: ClassVar[str] = ""
    #: whether builds update the table for new rows instead of rebuilding it whole
    incremental: ClassVar[bool] = False
    time_column: str | None = None
    partition: str | None = None

    @property
    def key_columns(self) -> tuple[str, ...]:
        """Return the columns one incremental unit is replaced by (() when none)."""
        return tuple(getattr(self, "key", ()))

    def shown(self) -> dict:
        """Return the fields worth showing a reader: set ones, `changes` only where it is not the usual source."""
        out = {k: v for k, v in self.fields().items() if v not in (None, (), [], {}, "")}
        if out.get("changes") == DEFAULT_CHANGES or not self.key_columns:
            out.pop("changes", None)
        return out

    def fields(self) -> dict:
        """Return the declared fields as plain values (for `models`, docs and the fingerprint)."""
        out = {"kind": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Period):
                value = {"column": value.column, "grain": value.grain, "source": value.source}
            elif isinstance(value, tuple) and value and isinstance(value[0], tuple):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class View(Kind):
    """A view; with `key`, its checks read only the rows sharing a key with the new rows."""

    name: ClassVar[str] = "view"
    key: tuple[str, ...] = ()
    changes: str = DEFAULT_CHANGES


@dataclass(frozen=True)
class Table(Kind):
    """A table rebuilt whole when its SQL or anything it reads changed."""

    name: ClassVar[str] = "table"


@dataclass(frozen=True)
class ByKey(Kind):
    """Rows of the keys the new rows touch, replaced from `input` cut to those keys (and periods)."""

    name: ClassVar[str] = "by_key"
    incremental: ClassVar[bool] = True
    key: tuple[str, ...] = ()
    input: tuple[str, ...] = ()
    period: Period | None = None
    changes: str = DEFAULT_CHANGES


@dataclass(frozen=True)
class ByDate(Kind):
    """Rows of the dates the new rows reach (plus `restate` days after), reading `lookback` days before."""

    name: ClassVar[str] = "by_date"
    incremental: ClassVar[bool] = True
    grain: str = "day"
    column: str = ""
    lookback: int = 0
    restate: int | str = 0
    cut: tuple[str, ...] = ()
    changes: str = DEFAULT_CHANGES

    @property
    def key(self) -> tuple[str, ...]:
        """Return the one key column: the date."""
        return (self.column,)

    @property
    def period(self) -> Period:
        """Return the key as the period of the new rows' utc day."""
        return Period(self.column, self.grain, "day")

    @property
    def walks(self) -> bool:
        """Return whether every later date depends on the earlier ones (restate = "all")."""
        return self.restate == "all"


@dataclass(frozen=True)
class Fold(Kind):
    """The model over the new rows alone, merged into its old rows by key (`merge = {}`: a set of keys)."""

    name: ClassVar[str] = "fold"
    incremental: ClassVar[bool] = True
    key: tuple[str, ...] = ()
    merge: tuple[tuple[str, str], ...] = ()
    changes: str = DEFAULT_CHANGES


def compact(value) -> str:
    """Return a declared field's value compactly, as the `models` listing and the docs show it."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{v}" for k, v in value.items()) + "}"
    return str(value)


KINDS: dict[str, type[Kind]] = {k.name: k for k in (View, Table, ByKey, ByDate, Fold)}


def _fail(where: str, name: str, message: str) -> ModelError:
    """Return the one-line error naming the file and the field."""
    return ModelError(f"{where}: field {name!r}: {message}")


def _text(where: str, name: str, value) -> str:
    """Return a non-empty string field."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, name, f"must be a non-empty string, not {value!r}")
    return value


def _names(where: str, name: str, value) -> tuple[str, ...]:
    """Return a non-empty list of strings as a tuple."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, name, f"must be a non-empty list of names, not {value!r}")
    return tuple(value)


def _days(where: str, name: str, value, all_allowed: bool = False) -> int | str:
    """Return a whole number of days >= 0 (or "all" where allowed)."""
    if all_allowed and value == "all":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        allowed = 'a whole number of days >= 0' + (' or "all"' if all_allowed else '')
        raise _fail(where, name, f"must be {allowed}, not {value!r}")
    return value


def _choice(where: str, name: str, value, allowed: tuple[str, ...]) -> str:
    """Return one of the allowed strings."""
    if value not in allowed:
        raise _fail(where, name, f"must be one of {list(allowed)}, not {value!r}")
    return value


def _changes(where: str, value) -> str:
    """Return a `schema.table.column` reference."""
    text = _text(where, "changes", value)
    if len(text.split(".")) != 3:
        raise _fail(where, "changes", f"must be schema.table.column (the load id of new rows), not {value!r}")
    return text


def _period(where: str, value) -> Period:
    """Return a Period from {grain, column (default: the grain), source (default: day)}."""
    if not isinstance(value, dict):
        raise _fail(where, "period", f"must be a table {{grain, column, source}}, not {value!r}")
    unknown = set(value) - {"grain", "column", "source"}
    if unknown:
        raise _fail(where, "period", f"unknown entries {sorted(unknown)}; allowed: grain, column, source")
    grain = _choice(where, "period.grain", value.get("grain"), GRAINS)
    return Period(_text(where, "period.column", value.get("column", grain)), grain,
                  _text(where, "period.source", value.get("source", "day")))


def _merge(where: str, value) -> tuple[tuple[str, str], ...]:
    """Return the merge functions per column ({} allowed: a set of keys)."""
    if not isinstance(value, dict):
        raise _fail(where, "merge", f"must be a table {{column = function}}, not {value!r}")
    for column, fn in value.items():
        _choice(where, f"merge.{column}", fn, MERGES)
    return tuple(value.items())


#: how each field is read: (parser, kinds that take it)
_FIELDS = {
    "key": (_names, ("view", "by_key", "fold")),
    "input": (_names, ("by_key",)),
    "period": (lambda w, n, v: _period(w, v), ("by_key",)),
    "grain": (lambda w, n, v: _choice(w, n, v, GRAINS), ("by_date",)),
    "column": (_text, ("by_date",)),
    "lookback": (_days, ("by_date",)),
    "restate": (lambda w, n, v: _days(w, n, v, all_allowed=True), ("by_date",)),
    "cut": (_names, ("by_date",)),
    "merge": (lambda w, n, v: _merge(w, v), ("fold",)),
    "changes": (lambda w, n, v: _changes(w, v), ("view", "by_key", "by_date", "fold")),
    "time_column": (_text, tuple(KINDS)),
    "partition": (lambda w, n, v: _choice(w, n, v, PARTITIONS), tuple(KINDS)),
}
#: fields a kind cannot do without
_REQUIRED = {"by_key": ("key", "input"), "by_date": ("grain", "cut"), "fold": ("key", "merge")}


def header(text: str, where: str) -> dict | None:
    """Return the raw TOML table of the `-- model:` line among a file's leading comments (None: no header)."""
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        if line.startswith(HEADER):
            try:
                return tomllib.loads("m = {" + line[len(HEADER):].strip() + "}")["m"]
            except tomllib.TOMLDecodeError as exc:
                raise ModelError(f"{where}: the `{HEADER}` line is not a TOML inline table: {exc}") from None
    return None


def declaration(raw: dict, where: str) -> Kind:
    """Return the typed declaration of a header's fields (`each` already taken out), or raise ModelError."""
    name = raw.get("kind")
    if name not in KINDS:
        raise _fail(where, "kind", f"must be one of {list(KINDS)}, not {name!r}")
    values = {}
    for key, value in raw.items():
        if key == "kind":
            continue
        if key not in _FIELDS:
            raise _fail(where, key, f"unknown field; known: {sorted(_FIELDS)}")
        parse, kinds = _FIELDS[key]
        if name not in kinds:
            raise _fail(where, key, f"does not fit kind {name!r} (it is for {', '.join(kinds)})")
        values[key] = parse(where, key, value)
    for key in _REQUIRED.get(name, ()):
        if key not in values:
            raise _fail(where, key, f"kind {name!r} needs it")
    if name == "by_date":
        values.setdefault("column", values["grain"])
    if name == "by_key" and "period" in values and values["period"].column not in values["key"]:
        raise _fail(where, "period.column", f"{values['period'].column!r} is not one of the key columns {list(values['key'])}")
    if "partition" in values and "time_column" not in values and name != "by_date":
        raise _fail(where, "partition", "needs time_column (the date column the files are split by)")
    if name == "by_date":
        values.setdefault("time_column", values["column"])
    return KINDS[name](**values)
