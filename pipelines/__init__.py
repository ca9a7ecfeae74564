"""FlowForge usage-telemetry analytics: stored ping rows -> DuckDB warehouse -> marts -> parquet."""

__version__ = "0.1.0"
