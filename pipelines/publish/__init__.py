"""Publish: marts to a versioned parquet set, the mart reader, charts, and the offline HTML report."""
