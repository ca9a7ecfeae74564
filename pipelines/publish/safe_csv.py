"""Every CSV the reports write: cells a spreadsheet would evaluate are neutralised, numbers stay numbers.

OWASP's CSV-injection guidance: a text cell beginning with '=', '+', '-', '@', a tab or a carriage
return is read as a formula by spreadsheet programs; prefixing it with a single quote makes it plain
text. Numeric columns are left as they are (a negative number is a number, not a formula), written
with at most FLOAT_DIGITS significant digits: no binary noise (21.4, not 21.400000000000006) and a
whole number without '.0' (a count column holding a blank is a float column in pandas).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: significant digits of a float cell (a share keeps 12: far below any difference a chart or a reader sees)
FLOAT_DIGITS = 12


def neutralise(value):
    """Return a text cell prefixed with ' when a spreadsheet would evaluate it, a float in FLOAT_DIGITS digits (a
    column of text and numbers, such as '< 5' beside counts), other values unchanged."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    if isinstance(value, float) and value == value:
        return f"{value:.{FLOAT_DIGITS}g}"
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
    """Write a table as CSV with its text cells neutralised and its floats in FLOAT_DIGITS digits; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    safe(df).to_csv(path, index=False, float_format=f"%.{FLOAT_DIGITS}g")
    return path
