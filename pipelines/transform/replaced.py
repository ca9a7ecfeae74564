"""The rows an incremental build replaced, as a small typed value; a model's checks read only those rows.

Rows outside it were checked when they were built and have not changed since, so a duplicate key or a
missing value can only be among the replaced rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlglot import exp

from . import sqltree


@dataclass(frozen=True)
class Replaced:
    """Rows replaced by a build; `rows(relation)` selects them from the model or a view keeping `columns`."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the columns the replaced rows are told apart by."""
        return ()

    def rows(self, relation: str) -> exp.Select:
        """Return a query of the replaced rows of relation."""
        raise NotImplementedError


@dataclass(frozen=True)
class Keys(Replaced):
    """The rows of the keys in a temp table (`table`), optionally within key dates [first, last]."""

    table: str
    key: tuple[str, ...]
    dates: tuple[tuple[str, date, date], ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the key columns."""
        return self.key

    def rows(self, relation: str) -> exp.Select:
        """Return `select t.* from relation t semi join <table> s on key` (the dates tested first)."""
        query = sqltree.semi(relation, self.table, self.key)
        for column, first, last in self.dates:   # a cheap test before the join
            query = query.where(sqltree.between(column, first, last, table="t"))
        return query


@dataclass(frozen=True)
class Dates(Replaced):
    """The rows whose date column lies in [start, end]."""

    column: str
    start: date
    end: date

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the date column."""
        return (self.column,)

    def rows(self, relation: str) -> exp.Select:
        """Return `select * from relation where column between start and end`."""
        return exp.select("*").from_(exp.to_table(relation)).where(sqltree.between(self.column, self.start, self.end))


@dataclass(frozen=True)
class Nothing(Replaced):
    """No row replaced: nothing to check."""

    def rows(self, relation: str) -> exp.Select:
        """Return a query of no rows."""
        return exp.select("*").from_(exp.to_table(relation)).where(exp.false())
