"""The shared parameter checks of :mod:`ml._checks`: values returned, exception classes, exact messages."""

from __future__ import annotations

import doctest
import re
from functools import partial

import numpy as np
import pytest

import ml._checks as checks
from ml._checks import check_bool, check_choice, check_int, check_real, close_match, did_you_mean
from ml.exceptions import ParameterError


def test_docstring_examples():
    result = doctest.testmod(checks)
    assert result.attempted >= 8 and result.failed == 0


# --------------------------------------------------------------------------- did you mean
@pytest.mark.parametrize("value, valid, expected", [
    ("sesions", ("bars", "sessions"), "sessions"),
    ("b3", ("B3", "24/7"), "B3"),                # case ignored, spelling of `valid` returned
    ("EGARHC", ("GARCH", "EGARCH"), "EGARCH"),
    (3, ("3x", "bars"), "3x"),                   # non-strings compared as text
    ("zzz", ("bars", "sessions"), None),
    ("bars", (), None),
])
def test_close_match(value, valid, expected):
    assert close_match(value, valid) == expected


def test_close_match_cutoff_and_mixed_types():
    assert close_match("bz", ("B3",)) is None
    assert close_match("bz", ("B3",), cutoff=0.5) == "B3"
    assert close_match("volume", {"volume": 1, "ratio": 2}) == "volume"  # a dict: its keys


def test_did_you_mean():
    assert did_you_mean("optimise", ("optimize", "equal")) == " Did you mean 'optimize'?"
    assert did_you_mean("zzz", ("optimize", "equal")) == ""


# --------------------------------------------------------------------------- choice
def test_check_choice_returns_the_choice():
    assert check_choice("unit", "bars", ("bars", "sessions")) == "bars"
    assert check_choice("unit", np.str_("bars"), ("bars", "sessions")) == "bars"
    assert check_choice("adjust", None, ("ratio", None)) is None
    assert check_choice("scoring", "sharpe", {"log_loss": 1, "sharpe": 2}) == "sharpe"


def test_check_choice_ignore_case_returns_the_canonical_spelling():
    assert check_choice("vol", " egarch ", ("GARCH", "EGARCH"), ignore_case=True) == "EGARCH"
    assert check_choice("cov", "FULL", ("full", "diag"), ignore_case=True) == "full"
    with pytest.raises(ParameterError, match=r"^`vol` must be one of 'GARCH', 'EGARCH', got 'egarch'\. "
                                             r"Did you mean 'EGARCH'\?$"):
        check_choice("vol", "egarch", ("GARCH", "EGARCH"))


def test_check_choice_bad_value_message():
    with pytest.raises(ParameterError) as err:
        check_choice("unit", "session", ("bars", "sessions"))
    assert str(err.value) == "`unit` must be one of 'bars', 'sessions', got 'session'. Did you mean 'sessions'?"
    with pytest.raises(ParameterError) as err:
        check_choice("unit", "xyz", ("bars", "sessions"))
    assert str(err.value) == "`unit` must be one of 'bars', 'sessions', got 'xyz'."


def test_check_choice_bad_type():
    with pytest.raises(TypeError) as err:
        check_choice("unit", None, ("bars", "sessions"))
    assert not isinstance(err.value, ValueError)
    assert str(err.value) == "`unit` must be one of 'bars', 'sessions', got NoneType None."
    with pytest.raises(TypeError, match=r"^`unit` must be one of 'bars', 'sessions', got int 3\.$"):
        check_choice("unit", 3, ("bars", "sessions"))
    with pytest.raises(TypeError, match=r"got list \['bars'\]"):  # unhashable values are reported, not crashed on
        check_choice("unit", ["bars"], ("bars", "sessions"))


def test_check_choice_type_error_class_can_be_chosen():
    with pytest.raises(ParameterError, match=r"^`roll` must be one of 'volume', got NoneType None\.$"):
        check_choice("roll", None, ("volume",), type_error=ParameterError)


def test_check_choice_with_none_lists_none_and_suggests_only_strings():
    with pytest.raises(ParameterError) as err:
        check_choice("adjust", "ratoi", ("ratio", "difference", None))
    assert str(err.value) == ("`adjust` must be one of 'ratio', 'difference', None, got 'ratoi'. "
                              "Did you mean 'ratio'?")


# --------------------------------------------------------------------------- bool
@pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
def test_check_bool_accepts_bools(value):
    out = check_bool("purge", value)
    assert out is bool(value)


@pytest.mark.parametrize("value, shown", [(1, "int 1"), ("yes", "str 'yes'"), (None, "NoneType None")])
def test_check_bool_rejects_other_types(value, shown):
    with pytest.raises(TypeError) as err:
        check_bool("purge", value)
    assert str(err.value) == f"`purge` must be True or False, got {shown}."
    with pytest.raises(ParameterError, match=re.escape(f"`purge` must be True or False, got {shown}.")):
        check_bool("purge", value, type_error=ParameterError)


# --------------------------------------------------------------------------- int
def test_check_int_returns_plain_int():
    out = check_int("n", np.int64(5), 2)
    assert out == 5 and type(out) is int
    assert check_int("depth", 16, 1, 16) == 16
    assert check_int("thread_count", -1, -1) == -1
    assert check_int("max_depth", None, 1, allow_none=True) is None


# --------------------------------------------------------------------------- real
def test_check_real_returns_plain_float():
    out = check_real("c", np.float32(0.5), lo=0.0, hi=1.0)
    assert out == 0.5 and type(out) is float
    assert type(check_real("c", 3, lo=0.0)) is float
    assert check_real("c", 0.0, lo=0.0) == 0.0
    assert check_real("c", 1.0, lo=0.0, hi=1.0) == 1.0
    assert check_real("c", -7.5) == -7.5
    assert check_real("c", None, lo=0.0, allow_none=True) is None


INT = partial(check_int, "n")
REAL = partial(check_real, "x")


@pytest.mark.parametrize("check, kwargs, message", [
    (INT, dict(value=0, minimum=1), "`n` must be an int >= 1, got 0."),
    (INT, dict(value=np.int32(-3), minimum=1), "`n` must be an int >= 1, got -3."),
    (INT, dict(value=17, minimum=1, maximum=16), "`n` must be an int in [1, 16], got 17."),
    (INT, dict(value=0, minimum=1, allow_none=True), "`n` must be an int >= 1 or None, got 0."),
    (INT, dict(value=1, minimum=2, hint=" A span of 1 has no variance; try 100."),
     "`n` must be an int >= 2, got 1. A span of 1 has no variance; try 100."),
    (REAL, dict(value=-0.001, lo=0.0), "`x` must be a finite number >= 0, got -0.001."),
    (REAL, dict(value=-1, lo=0.0), "`x` must be a finite number >= 0, got -1.0."),
    (REAL, dict(value=np.nan, lo=0.0), "`x` must be a finite number >= 0, got nan."),
    (REAL, dict(value=np.inf, lo=0.0), "`x` must be a finite number >= 0, got inf."),
    (REAL, dict(value=10**400, lo=0.0), "`x` must be a finite number >= 0, got inf."),
    (REAL, dict(value=0.0, lo=0.0, lo_open=True), "`x` must be a finite number > 0, got 0.0."),
    (REAL, dict(value=2.0, hi=1.0), "`x` must be a finite number <= 1, got 2.0."),
    (REAL, dict(value=1.0, hi=1.0, hi_open=True), "`x` must be a finite number < 1, got 1.0."),
    (REAL, dict(value=np.inf), "`x` must be a finite number, got inf."),
    (REAL, dict(value=1.0, lo=0.0, hi=1.0, lo_open=True, hi_open=True), "`x` must be a number in (0, 1), got 1.0."),
    (REAL, dict(value=0.0, lo=0.0, hi=1.0, lo_open=True), "`x` must be a number in (0, 1], got 0.0."),
    (REAL, dict(value=0.5, lo=0.0, hi=1 / 3), "`x` must be a number in [0, 0.333333], got 0.5."),
    (REAL, dict(value=-0.5, lo=0.0, allow_none=True), "`x` must be a finite number >= 0 or None, got -0.5."),
    (REAL, dict(value=2.0, lo=0.0, hi=1.0, hint=" Use a share of rows."),
     "`x` must be a number in [0, 1], got 2.0. Use a share of rows."),
])
def test_bad_numbers_raise_parameter_error(check, kwargs, message):
    with pytest.raises(ParameterError) as err:
        check(**kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize("check, kwargs, rule", [
    (INT, dict(minimum=1), "`n` must be an int >= 1"),
    (REAL, dict(lo=0.0), "`x` must be a finite number >= 0"),
])
@pytest.mark.parametrize("value, shown", [
    (2.5, "float 2.5"), ("3", "str '3'"), (True, "bool True"), (np.bool_(True), f"bool {np.bool_(True)!r}"),
    (None, "NoneType None"), (1j, "complex 1j"),
])
def test_bad_number_types_raise_type_error(check, kwargs, rule, value, shown):
    if check is REAL and isinstance(value, float):
        value, shown = 2.0 + 0j, "complex (2+0j)"
    with pytest.raises(TypeError) as err:
        check(value=value, **kwargs)
    assert not isinstance(err.value, ValueError)
    assert str(err.value) == f"{rule}, got {shown}."
    with pytest.raises(ParameterError) as err:
        check(value=value, type_error=ParameterError, **kwargs)
    assert str(err.value) == f"{rule}, got {shown}."


def test_check_int_rejects_whole_floats():
    with pytest.raises(TypeError, match=r"^`n` must be an int >= 1, got float 2\.0\.$"):
        check_int("n", 2.0, 1)


def test_check_real_allow_none_is_named_in_type_errors():
    with pytest.raises(TypeError) as err:
        check_real("sl", "wide", lo=0.0, allow_none=True)
    assert str(err.value) == "`sl` must be a finite number >= 0 or None, got str 'wide'."
