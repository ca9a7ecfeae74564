"""Kind `table`: rebuilt whole when its SQL or anything it reads changed."""

from __future__ import annotations

from ..models import Model
from .common import Result, whole


def full(con, model: Model, chunk_rows: int) -> Result:
    """Build the table whole, in one pass."""
    return whole(con, model)


def incremental(con, model: Model, since: int, chunk_rows: int) -> Result:
    """A table has no incremental build (the plan never asks for one)."""
    raise ValueError(f"{model.relation}: a table is rebuilt whole, never incrementally")
