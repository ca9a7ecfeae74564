"""Every path, environment variable and default of the project; nothing else reads the environment.

Every value is validated here, once: a bad one raises SettingsError, whose message is one line naming
the setting (as the user gave it: option, PINGS_* variable or pings.toml key) and what is allowed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
SQL_DIR = PACKAGE_DIR / "transform" / "sql"
REFERENCE_DIR = PACKAGE_DIR / "reference"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

#: the demo fleet `make demo` writes (and the simulator's defaults): about 650,000 pings over three
#: years, sized so that `make report` on a fresh clone stays under a minute on 2 cores
DEMO_INSTANCES = 2000
DEMO_START = "2023-12-01"

#: the optional settings file (TOML) at the project root; keys mirror the Settings fields
SETTINGS_FILE_ENV = "PINGS_SETTINGS"
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "pings.toml"


class SettingsError(ValueError):
    """A setting or argument that is not allowed; str() is one line naming it and what is allowed."""


def _env(name: str) -> str | None:
    """Return a non-empty environment variable or None."""
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass
class Settings:
    """Resolved settings: command line > environment > settings file > defaults."""

    data_dir: Path = PROJECT_ROOT / "data"
    sources: list[str] = field(default_factory=list)
    warehouse: Path | None = None
    parquet_dir: Path | None = None
    reports_dir: Path = PROJECT_ROOT / "reports"
    ip_hash_key: str | None = None
    ip_hash_key_file: Path | None = None
    report_min_count: int = 5
    audience: str = "team"         # team: every count shown; public: counts under report_min_count hidden
    reports_keep: int = 12
    cell_timeout_s: int = 600
    trusted_proxies: list[str] = field(default_factory=list)
    memory_limit: str = "512MB"    # DuckDB's cap (it spills to disk beyond); keeps a refresh under 1 GiB
    received_at_min: str = "2021-01-01"   # earliest ping time landed (UTC day); earlier ones are quarantined
    received_at_max_ahead_days: int = 1   # latest ping time landed: load time + this many days
    pg_reread_minutes: int = 15           # PostgreSQL: re-read rows stamped this long before the watermark
    pg_time_zone: str | None = None       # PostgreSQL: zone of a `timestamp without time zone` created_at;
                                          # unset: the database session's TimeZone, asked from the server
    csv_time_zone: str = "UTC"            # CSV exports: zone of a created_at written without an offset

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        # the demo (no source configured) keeps its own warehouse and parquet inside data/demo/, so
        # configured sources never mix with it and it never replaces their figures
        home = self.data_dir if self.sources else self.demo_dir
        self.warehouse = Path(self.warehouse) if self.warehouse else home / "warehouse.duckdb"
        self.parquet_dir = Path(self.parquet_dir) if self.parquet_dir else home / "parquet"
        self.ip_hash_key_file = (
            Path(self.ip_hash_key_file) if self.ip_hash_key_file else self.data_dir / "ip_hash.key"
        )
        self.reports_dir = Path(self.reports_dir)

    @property
    def demo_dir(self) -> Path:
        """Folder of the default demo fleet written by `make demo`."""
        return self.data_dir / "demo"

    @property
    def demo(self) -> bool:
        """True when no source is configured: the simulated demo fleet is what every command shows."""
        return not self.sources

    @property
    def demo_sources(self) -> list[str]:
        """The demo fleet's one source: its ping log (every ping once, with every payload key; the demo's
        collector export holds the same pings again and is not read)."""
        return [str(self.demo_dir / "pinglog")]

    @property
    def pinglog_dir(self) -> Path:
        """Where the collector writes ping-log files by default."""
        return self.data_dir / "raw" / "pinglog"

    @property
    def lock_file(self) -> Path:
        """The warehouse's writer lock, `<warehouse>.lock` beside the real file (symlinks resolved)."""
        return lock_file_for(self.warehouse)

    @property
    def logs_dir(self) -> Path:
        """Where unexpected errors leave their traceback (never the terminal)."""
        return self.data_dir / "logs"


def lock_file_for(warehouse: Path | str) -> Path:
    """Return the one lock file of a warehouse, whichever path spelling points at it."""
    real = Path(os.path.realpath(warehouse))
    return real.with_name(real.name + ".lock")


# --- validation: one checker per kind of value; each returns the value or raises SettingsError ---

MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)$", re.I)


def _int(text, label: str, low: int = 0, high: int | None = None):
    """Return an integer in [low, high] from text or a TOML integer."""
    allowed = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise SettingsError(f"{label}: {text!r} is not allowed; allowed: {allowed}")
    try:
        value = int(text.strip()) if isinstance(text, str) else text
    except ValueError:
        raise SettingsError(f"{label}: {text!r} is not a number; allowed: {allowed}") from None
    if value < low or (high is not None and value > high):
        raise SettingsError(f"{label}: {value} is out of range; allowed: {allowed}")
    return value


def _min_count(text, label: str) -> int:
    """Return k of the public audience from text or a TOML integer: 1 (nothing hidden) or 3 and more."""
    value = _int(text, label, 1)
    if value == 2:   # '< 2' can only mean 1: the hidden count would read as itself
        raise SettingsError(f"{label}: 2 hides nothing ('< 2' can only mean 1); allowed: 1 (nothing hidden) or an "
                            "integer >= 3")
    return value


def _text(value, label: str) -> str:
    """Return a non-empty string (a path given as a Path is taken as its text)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{label}: {value!r} is not allowed; allowed: a non-empty string")
    return value.strip()


def _day(value, label: str) -> str:
    """Return a YYYY-MM-DD date as text."""
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise SettingsError(f"{label}: {value!r} is not a date; allowed: YYYY-MM-DD") from None


def _memory(value, label: str) -> str:
    """Return a DuckDB memory limit such as 512MB or 2GiB."""
    if not isinstance(value, str) or not MEMORY_RE.match(value.strip()):
        raise SettingsError(f"{label}: {value!r} is not a memory size; allowed: a number with a unit,"
                            " e.g. 512MB, 2GB, 4GiB")
    return value.strip()


def _zone(value, label: str) -> str:
    """Return an IANA time-zone name such as UTC or America/New_York."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = _text(value, label)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{label}: {name!r} is not a time zone; allowed: an IANA name such as UTC or"
                            " America/New_York") from None
    return name


def _list(value, label: str, item=_text) -> list[str]:
    """Return a non-empty list of items from a TOML list or comma-separated text."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise SettingsError(f"{label}: an empty list is not allowed; allowed: one or more comma-separated"
                            " values (unset it to use the default)")
    return [item(v, label) for v in value]


def _network(value, label: str) -> str:
    """Return an IP address or network (CIDR) as text."""
    try:
        ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise SettingsError(f"{label}: {value!r} is not an address; allowed: an IP address or network"
                            " such as 10.0.0.1 or 10.0.0.0/8") from None
    return str(value).strip()


def _audience(value, label: str) -> str:
    """Return 'team' or 'public'."""
    if value not in AUDIENCES:
        raise SettingsError(f"{label}: {value!r} is not allowed; allowed: {' or '.join(AUDIENCES)}")
    return value


AUDIENCES = ("team", "public")


def _source(value, label: str) -> str:
    """Return a source string (a path or a postgresql:// URL)."""
    return _text(value, label)


def _path(value, label: str) -> Path:
    """Return a path from text."""
    return Path(_text(value, label)).expanduser()


def _file(value, label: str) -> Path:
    """Return a path that is not a folder (it may not exist yet)."""
    path = _path(value, label)
    if path.is_dir():
        raise SettingsError(f"{label}: {path} is a folder; allowed: a file path")
    if path.parent.exists() and not path.parent.is_dir():
        raise SettingsError(f"{label}: {path.parent} is a file; allowed: a file path inside a folder")
    return path


def _folder(value, label: str) -> Path:
    """Return a path that is not a file (it may not exist yet)."""
    path = _path(value, label)
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{label}: {path} is a file; allowed: a folder")
    return path


@dataclass(frozen=True)
class Spec:
    """How one setting is read: its environment variable and its checker."""

    check: object
    env: str | None = None
    help: str = ""


#: every setting with its checker; a Settings field missing here is checked by its default's type
SPECS: dict[str, Spec] = {
    "data_dir": Spec(_folder, "PINGS_DATA_DIR", "a folder (default data/)"),
    "sources": Spec(lambda v, l: _list(v, l, _source), "PINGS_SOURCES",
                    "comma-separated sources; never empty (default: the demo fleet only when unset)"),
    "warehouse": Spec(_file, "PINGS_WAREHOUSE", "a DuckDB file (default data/warehouse.duckdb; the demo's:"
                      " data/demo/warehouse.duckdb)"),
    "parquet_dir": Spec(_folder, "PINGS_PARQUET_DIR", "a folder (default data/parquet; the demo's: data/demo/parquet)"),
    "reports_dir": Spec(_folder, "PINGS_REPORTS_DIR", "a folder (default reports/; the demo's reports go to its demo/)"),
    "ip_hash_key": Spec(_text, "PINGS_IP_HASH_KEY", "the IP-hash key, at least 16 bytes"),
    "ip_hash_key_file": Spec(_file, "PINGS_IP_HASH_KEY_FILE", "a file (default data/ip_hash.key)"),
    "report_min_count": Spec(_min_count, "PINGS_REPORT_MIN_COUNT",
                             "k of the public audience: counts under it are hidden (1: none, or an integer >= 3;"
                             " default 5)"),
    "audience": Spec(_audience, "PINGS_AUDIENCE", "team (every count shown; default) or public (counts under k"
                     " hidden, as `report --public`)"),
    "reports_keep": Spec(lambda v, l: _int(v, l, 1), "PINGS_REPORTS_KEEP", "an integer >= 1 (default 12)"),
    "cell_timeout_s": Spec(lambda v, l: _int(v, l, 1), "PINGS_CELL_TIMEOUT", "seconds >= 1 (default 600)"),
    "trusted_proxies": Spec(lambda v, l: _list(v, l, _network), "PINGS_TRUSTED_PROXIES",
                            "comma-separated IP addresses or networks (default none)"),
    "memory_limit": Spec(_memory, "PINGS_MEMORY_LIMIT", "a size such as 512MB or 2GiB (default 512MB)"),
    "pg_time_zone": Spec(_zone, "PINGS_PG_TIME_ZONE",
                         "a time zone such as America/New_York for a PostgreSQL created_at without zone"
                         " (default: the database's TimeZone, asked from the server)"),
    "csv_time_zone": Spec(_zone, "PINGS_CSV_TIME_ZONE",
                          "a time zone for a CSV export's created_at without offset (default UTC)"),
}


def spec(name: str) -> Spec:
    """Return the Spec of a setting; fields without one are checked by their default's type."""
    if name in SPECS:
        return SPECS[name]
    default = next(f.default for f in fields(Settings) if f.name == name)
    env = "PINGS_" + name.upper()
    if isinstance(default, bool):
        raise SettingsError(f"{name}: boolean settings are not supported")
    if isinstance(default, int):
        return Spec(_int, env, f"an integer >= 0 (default {default})")
    if isinstance(default, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", default):
        return Spec(_day, env, f"a date YYYY-MM-DD (default {default})")
    return Spec(_text, env, f"text (default {default})")


def check(name: str, value, label: str | None = None):
    """Return a setting's value checked and converted, or raise SettingsError naming `label`."""
    return spec(name).check(value, label or name)


def _toml_kind(name: str) -> str:
    """Return the TOML type a setting needs: 'a list of strings', 'an integer' or 'a string'."""
    f = next(f for f in fields(Settings) if f.name == name)
    if f.default_factory is list:
        return "a list of strings"
    if isinstance(f.default, int) and not isinstance(f.default, bool):
        return "an integer"
    return "a string"


def _toml_type_ok(value, kind: str) -> bool:
    """Return whether a pings.toml value has the TOML type `kind`."""
    if kind == "a list of strings":
        return isinstance(value, list)
    if kind == "an integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def _read_file(path: Path, named: bool = False) -> dict:
    """Read and check the TOML settings file; {} when the default file does not exist.

    A file named by PINGS_SETTINGS (named=True) that does not exist is an error naming it.
    """
    if path.is_dir():
        raise SettingsError(f"{SETTINGS_FILE_ENV}: {path} is a folder; allowed: a pings.toml file")
    if not path.exists():
        if named:
            raise SettingsError(f"{SETTINGS_FILE_ENV}: {path} does not exist; allowed: an existing pings.toml"
                                f" file ({os.devnull} for none), or unset it to read {DEFAULT_SETTINGS_FILE.name}"
                                " at the project root when present")
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc}); allowed: key = value lines, see README") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot be read ({exc})") from None
    known = [f.name for f in fields(Settings)]
    for key, value in data.items():
        if key not in known:
            raise SettingsError(f"{path}: unknown key {key!r}; allowed keys: {', '.join(known)}")
        kind = _toml_kind(key)
        if not _toml_type_ok(value, kind):
            raise SettingsError(f"{path}: {key} = {value!r} has the wrong type; allowed: {kind}")
    return data


def load(**overrides) -> Settings:
    """Build checked Settings from the settings file, then PINGS_* variables, then non-None overrides.

    Overrides may be given as name=value or name=(value, label) where label names the option.
    """
    named = _env(SETTINGS_FILE_ENV)
    path = settings_file()
    values: dict = {}
    for key, value in _read_file(path, named=bool(named)).items():
        values[key] = check(key, value, f"{path.name}: {key}")
    for f in fields(Settings):
        var = spec(f.name).env
        raw = os.environ.get(var) if var else None
        if raw is None:
            continue
        if not raw.strip():
            if f.name == "sources" and var in os.environ:
                raise SettingsError(f"{var}: empty; allowed: one or more comma-separated sources"
                                    " (unset it to use the demo fleet)")
            continue
        values[f.name] = check(f.name, raw, var)
    for key, value in overrides.items():
        label = f"--{key.replace('_', '-')}"
        if isinstance(value, tuple):
            value, label = value
        if value is None or (isinstance(value, (list, tuple)) and not value and key != "sources"):
            continue
        if key == "sources" and value == []:
            continue
        values[key] = check(key, value, label)
    return Settings(**values)


def settings_file() -> Path:
    """Return the settings file in use: PINGS_SETTINGS, else pings.toml at the project root."""
    return Path(_env(SETTINGS_FILE_ENV) or DEFAULT_SETTINGS_FILE)


SETTINGS_HEADER = "# FlowForge telemetry settings (written by `python -m pipelines use`; see README)"


def save_sources(sources: list[str] | None) -> Path:
    """Set `sources` in the settings file (None: remove it, so the demo is used); keep everything else.

    Only the `sources` line (or lines, for an array over several) changes: comments, layout and the
    other keys stay as they were. The file is replaced atomically.
    """
    path = settings_file()
    if path.exists() and not path.is_file():   # /dev/null (read no settings) or a device: never replaced
        raise SettingsError(f"{SETTINGS_FILE_ENV}: {path} is not a file `use` can write; allowed: a pings.toml"
                            " path (unset PINGS_SETTINGS to write pings.toml at the project root)")
    data = {key: value for key, value in _read_file(path).items() if key != "sources"}
    line = None
    if sources is not None:
        data["sources"] = [check("sources", [str(s)], "sources")[0] for s in sources]
        line = f"sources = {json.dumps(data['sources'])}"
    text = path.read_text() if path.exists() else SETTINGS_HEADER + "\n"
    edited = with_key_line(text, "sources", line)
    if tomllib.loads(edited) != data:   # a layout the line edit cannot follow: write the keys alone
        edited = "\n".join([SETTINGS_HEADER, *(f"{key} = {json.dumps(value)}" for key, value in data.items())]) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(edited)
    os.replace(tmp, path)
    return path


def with_key_line(text: str, key: str, line: str | None) -> str:
    """Return TOML text with the top-level `key` assignment replaced by `line` (None: removed), the rest unchanged.

    The assignment runs from its `key =` line to the first line at which it parses (an array may
    span lines). A key that is absent is added before the first table header, else at the end.
    """
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if re.match(rf"""\s*("{key}"|'{key}'|{key})\s*=""", ln)), None)
    new = [line + "\n"] if line is not None else []
    if start is None:
        at = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[")), len(lines))
        if at == len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        return "".join(lines[:at] + new + lines[at:])
    end = start + 1
    while end < len(lines):
        try:
            tomllib.loads("".join(lines[start:end]))
            break
        except tomllib.TOMLDecodeError:
            end += 1
    return "".join(lines[:start] + new + lines[end:])


# --- command-line argument types (argparse calls them; a SettingsError becomes its one-line error) ---

def arg(checker, *args):
    """Return an argparse type function from a checker, labelled by argparse itself."""
    import argparse

    def convert(text: str):
        try:
            return checker(text, "value", *args)
        except SettingsError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None
    return convert


def port(text: str) -> int:
    """Return a TCP port 0..65535 (0: pick a free one)."""
    return arg(_int, 0, 65535)(text)


def count(low: int = 0):
    """Return an argparse type for an integer >= low."""
    return arg(_int, low)


def min_count(text: str) -> int:
    """Return k of the public audience: 1 (nothing hidden) or an integer >= 3."""
    return arg(_min_count)(text)


def day(text: str) -> str:
    """Return a YYYY-MM-DD argument."""
    return arg(_day)(text)


def folder(text: str) -> Path:
    """Return a folder argument (not an existing file)."""
    return arg(_folder)(text)


def file(text: str) -> Path:
    """Return a file argument (not an existing folder)."""
    return arg(_file)(text)


def network(text: str) -> str:
    """Return an IP address or network argument."""
    return arg(_network)(text)


def source(text: str) -> str:
    """Return a non-empty source argument."""
    return arg(_source)(text)


def date_range(start: str | None, end: str | None, what: str = "--start/--end") -> None:
    """Raise SettingsError when start is after end."""
    if start and end and start > end:
        raise SettingsError(f"{what}: start {start} is after end {end}; allowed: start <= end")


def help_table(names: list[str] | None = None) -> str:
    """Return the settings a command reads, one line each: variable, pings.toml key, what is allowed."""
    names = names or [f.name for f in fields(Settings)]
    rows = [f"  {spec(n).env:<34} {n:<28} {spec(n).help}" for n in names]
    return "settings (PINGS_* variable, pings.toml key, allowed):\n" + "\n".join(rows)
