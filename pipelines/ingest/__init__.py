"""Ingest: one loader per source kind, shared landing, the DuckDB warehouse (every row accounted for)."""
