"""Every CSV the reports write: cells a spreadsheet would evaluate are neutralised, numbers stay numbers.

OWASP's CSV-injection guidance: a text cell beginning with '=', '+', '-', '@', a tab or a carriage
return is read as a formula by spreadsheet programs; prefixing it with a single quote makes it plain
text. Numeric columns are left as they are (a negative number is a number, not a formula).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """Return a text cell prefixed with ' when a spreadsheet would evaluate it (other values unchanged)."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def safe(df: pd.DataFrame) -> pd.DataFrame:
    """Return the table with every text cell neutralised (numeric and date columns untouched)."""
    out = df.copy()
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_datetime64_any_dtype(out[column])):
            out[column] = out[column].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def write(df: pd.DataFrame, path: Path) -> Path:
    """Write a table as CSV with its text cells neutralised; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    safe(df).to_csv(path, index=False)
    return path
