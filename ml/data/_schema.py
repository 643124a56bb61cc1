"""The bar schema: column names and their roles."""

from __future__ import annotations

__all__ = [
    "COLUMNS",
    "NUMERIC_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PRICE_COLUMNS",
    "REQUIRED_COLUMNS",
]

#: Every column of the schema, in file order.
COLUMNS = (
    "timestamp", "open", "high", "low", "close", "volume",
    "trades", "buy_volume", "sell_volume", "vwap", "symbol",
)
#: Columns a bar file must have (``symbol`` may come from the ``symbol`` argument).
REQUIRED_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
#: Columns that may be absent; features needing them are skipped with a warning.
OPTIONAL_COLUMNS = ("trades", "buy_volume", "sell_volume", "vwap")
PRICE_COLUMNS = ("open", "high", "low", "close")
NUMERIC_COLUMNS = ("open", "high", "low", "close", "volume",
                   "trades", "buy_volume", "sell_volume", "vwap")
