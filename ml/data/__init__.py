"""Bar data: loading and validation, session calendars, instruments, continuous contracts, resampling,
synthetic markets made from real bars."""

from ml.data._calendar import (
    CALENDARS,
    REFERENCE_YEARS,
    SessionCalendar,
    SessionInfo,
    bars_calendar,
    get_calendar,
    infer_calendar,
    us_daylight_saving,
)
from ml.data._instruments import (
    INSTRUMENTS,
    Instrument,
    bars_instrument,
    custom_instrument,
    get_instrument,
    instrument_for,
    instruments_table,
    match_instrument,
)
from ml.data._frame import bar_minutes_of, check_bar_frame
from ml.data._contracts import ADJUST_METHODS, ROLL_METHODS, continuous_contract, parse_contract
from ml.data._loader import load_bars, validate_bars
from ml.data._resample import resample_bars
from ml.data._samples import sample_path
from ml.data._schema import COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from ml.data._synthetic import EDGE_KINDS, no_edge_bars, planted_edge_bars

__all__ = sorted([
    "ADJUST_METHODS",
    "EDGE_KINDS",
    "no_edge_bars",
    "planted_edge_bars",
    "CALENDARS",
    "INSTRUMENTS",
    "Instrument",
    "REFERENCE_YEARS",
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "ROLL_METHODS",
    "SessionCalendar",
    "SessionInfo",
    "bar_minutes_of",
    "bars_instrument",
    "bars_calendar",
    "check_bar_frame",
    "continuous_contract",
    "custom_instrument",
    "get_instrument",
    "instrument_for",
    "instruments_table",
    "match_instrument",
    "us_daylight_saving",
    "get_calendar",
    "infer_calendar",
    "load_bars",
    "parse_contract",
    "resample_bars",
    "sample_path",
    "validate_bars",
])
