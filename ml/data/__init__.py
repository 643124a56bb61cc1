"""Bar data: loading and validation, session calendars, continuous contracts, resampling."""

from ml.data._calendar import (
    CALENDARS,
    SessionCalendar,
    SessionInfo,
    bars_calendar,
    get_calendar,
    infer_calendar,
)
from ml.data._loader import load_bars, validate_bars
from ml.data._samples import sample_path
from ml.data._schema import COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS

__all__ = sorted([
    "CALENDARS",
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SessionCalendar",
    "SessionInfo",
    "bars_calendar",
    "get_calendar",
    "infer_calendar",
    "load_bars",
    "sample_path",
    "validate_bars",
])
