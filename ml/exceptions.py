"""Exception and warning classes of the toolkit, all in one place.

Every error raised for bad user input is a subclass of :class:`ValueError` or
:class:`TypeError`, so callers that already catch those keep working, and its
message names the column, row, timestamp or parameter at fault.
"""

from __future__ import annotations

__all__ = [
    "BarDataError",
    "BarDataTypeError",
    "CalendarMismatchError",
    "CheckpointWarning",
    "CalendarWarning",
    "CorruptModelError",
    "DataQualityWarning",
    "EmptyDataError",
    "LookAheadError",
    "MissingColumnsError",
    "MissingOptionalColumnsWarning",
    "NonIntradayDataError",
    "OutputBusyError",
    "ParameterError",
    "UnknownInstrumentError",
    "UnsortedDataWarning",
]


class BarDataError(ValueError):
    """Bar data break a rule of the schema (bad value, order, duplicates, ...).

    Attributes
    ----------
    column : str or None
        The column at fault, when there is one.
    row : int or None
        Where the first offending row is: its 1-based line number in a CSV file
        (header = line 1, first bar = line 2), or its 1-based row number in a
        Parquet file or an in-memory frame (first row = 1).
    timestamp : object or None
        Timestamp of the first offending row, when known.
    source : str or None
        File the row came from.
    """

    def __init__(self, message, *, column=None, row=None, timestamp=None, source=None):
        super().__init__(message)
        self.column = column
        self.row = row
        self.timestamp = timestamp
        self.source = source


class BarDataTypeError(BarDataError, TypeError):
    """A column has the wrong type (e.g. booleans where prices belong)."""


class MissingColumnsError(BarDataError):
    """Required columns are absent."""


class EmptyDataError(BarDataError):
    """A file or frame holds no bars."""


class CalendarMismatchError(BarDataError):
    """The bars do not fit their session calendar (wrong calendar or time zone)."""


class NonIntradayDataError(BarDataError):
    """Bars span a whole session or more (daily, weekly) where intraday bars are needed."""


class CorruptModelError(ValueError):
    """A stored model file or its metadata does not match what was registered.

    Attributes
    ----------
    path : str
        The file at fault.
    """

    def __init__(self, message, *, path=None):
        super().__init__(message)
        self.path = None if path is None else str(path)


class ParameterError(ValueError):
    """A function argument has an impossible value."""


class UnknownInstrumentError(ParameterError):
    """A symbol or contract name matches no instrument preset."""


class OutputBusyError(ParameterError):
    """Another run holds the lock of an output folder."""


class LookAheadError(AssertionError):
    """A computation used data from after the time it is stamped with."""


class UnsortedDataWarning(UserWarning):
    """Input rows were not in time order and were sorted."""


class MissingOptionalColumnsWarning(UserWarning):
    """Optional columns are absent; what needs them was skipped."""


class CalendarWarning(UserWarning):
    """The bars and their session calendar disagree on some sessions (named in the message)."""


class CheckpointWarning(UserWarning):
    """A saved checkpoint could not be used (unreadable, or made with other settings) and is redone."""


class DataQualityWarning(UserWarning):
    """Data were changed or dropped on request (e.g. NaN rows dropped)."""
