"""Kind `view`: a view over its inputs. With `key`, its checks read only the rows sharing a key with the new rows."""

from __future__ import annotations

from ..models import Model
from ..replaced import Keys, Nothing
from .common import Result, plain_keys, touched_keys


def full(con, model: Model, chunk_rows: int) -> Result:
    """(Re)create the view; its checks read all of it."""
    con.execute(f"create or replace view {model.relation} as\n{model.sql}")
    return Result("view")


def incremental(con, model: Model, since: int, chunk_rows: int) -> Result:
    """Keep the view; return the rows sharing a key with the rows new since load `since` (a keyed view)."""
    table = touched_keys(con, model, plain_keys(model.kind), since)
    return Result("view", Keys(table, model.kind.key) if table else Nothing())
