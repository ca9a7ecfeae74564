"""Every path, environment variable and default of the project; nothing else reads the environment."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
SQL_DIR = PACKAGE_DIR / "transform" / "sql"
REFERENCE_DIR = PACKAGE_DIR / "reference"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

#: the demo fleet `make demo` writes (and the simulator's defaults)
DEMO_INSTANCES = 400
DEMO_START = "2022-10-01"

#: the optional settings file (TOML) at the project root; keys mirror the Settings fields
SETTINGS_FILE_ENV = "PINGS_SETTINGS"
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "pings.toml"


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
    reports_keep: int = 12
    cell_timeout_s: int = 600
    trusted_proxies: list[str] = field(default_factory=list)
    memory_limit: str = "1536MB"   # DuckDB's cap (it spills to disk beyond); keeps big refreshes under 2 GiB

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.warehouse = Path(self.warehouse) if self.warehouse else self.data_dir / "warehouse.duckdb"
        self.parquet_dir = Path(self.parquet_dir) if self.parquet_dir else self.data_dir / "parquet"
        self.ip_hash_key_file = (
            Path(self.ip_hash_key_file) if self.ip_hash_key_file else self.data_dir / "ip_hash.key"
        )
        self.reports_dir = Path(self.reports_dir)

    @property
    def demo_dir(self) -> Path:
        """Folder of the default demo fleet written by `make demo`."""
        return self.data_dir / "demo"

    @property
    def demo_sources(self) -> list[str]:
        """The demo fleet's sources: its collector export and its ping log."""
        return [str(self.demo_dir / "collector.csv.gz"), str(self.demo_dir / "pinglog")]

    @property
    def pinglog_dir(self) -> Path:
        """Where the collector writes ping-log files by default."""
        return self.data_dir / "raw" / "pinglog"

    @property
    def lock_file(self) -> Path:
        """Lock that stops overlapping refreshes and reports."""
        return self.data_dir / ".pipelines.lock"


def _read_file(path: Path) -> dict:
    """Read the TOML settings file, or {} when it does not exist."""
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def load(**overrides) -> Settings:
    """Build Settings from the settings file, then PINGS_* variables, then non-None overrides."""
    path = Path(_env(SETTINGS_FILE_ENV) or DEFAULT_SETTINGS_FILE)
    values: dict = {k: v for k, v in _read_file(path).items() if k in Settings.__dataclass_fields__}
    env_map = {
        "data_dir": "PINGS_DATA_DIR",
        "warehouse": "PINGS_WAREHOUSE",
        "parquet_dir": "PINGS_PARQUET_DIR",
        "reports_dir": "PINGS_REPORTS_DIR",
        "ip_hash_key": "PINGS_IP_HASH_KEY",
        "ip_hash_key_file": "PINGS_IP_HASH_KEY_FILE",
        "report_min_count": "PINGS_REPORT_MIN_COUNT",
        "reports_keep": "PINGS_REPORTS_KEEP",
        "cell_timeout_s": "PINGS_CELL_TIMEOUT",
        "memory_limit": "PINGS_MEMORY_LIMIT",
    }
    for key, var in env_map.items():
        if _env(var) is not None:
            values[key] = _env(var)
    for key in ("report_min_count", "reports_keep", "cell_timeout_s"):
        if key in values:
            values[key] = int(values[key])
    if _env("PINGS_SOURCES"):
        values["sources"] = [s.strip() for s in _env("PINGS_SOURCES").split(",") if s.strip()]
    if _env("PINGS_TRUSTED_PROXIES"):
        values["trusted_proxies"] = [s.strip() for s in _env("PINGS_TRUSTED_PROXIES").split(",") if s.strip()]
    values.update({k: v for k, v in overrides.items() if v not in (None, [], ())})
    return Settings(**values)
