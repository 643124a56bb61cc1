"""Parameter checks shared by every :mod:`ml` sub-package (private).

Each check returns the validated value (converted to a plain Python ``int``,
``float``, ``bool`` or the matching choice) or raises with a message in the
house style: the parameter in backticks, the rule, the value given and, for a
misspelled choice, a "did you mean" suggestion, e.g.::

    `horizon` must be an int >= 1, got 0. It counts bars held after the entry bar's open.
    `unit` must be one of 'bars', 'sessions', got 'session'. Did you mean 'sessions'?

A bad value raises :class:`ml.exceptions.ParameterError` (a ``ValueError``);
a value of the wrong type raises ``TypeError``, or ``type_error`` where a
caller's documented contract raises something else (some estimators raise
``ParameterError`` for every bad argument).  Bools are never accepted as
numbers; numpy scalars are, and come back as plain Python values.

Arguments the checks share:

name : str
    The parameter's name, shown in backticks.
value : object
    What the caller passed.
allow_none : bool, default=False
    Accept ``None`` and return it; the rule then says "or None".
hint : str, default=""
    Appended to the message (start it with a space), e.g. what the value counts.
type_error : exception class, default=TypeError
    Raised when ``value`` has the wrong type.
"""

from __future__ import annotations

import difflib
import math
import numbers

import numpy as np

from ml.exceptions import ParameterError

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_real",
    "close_match",
    "did_you_mean",
]

_BOOLS = (bool, np.bool_)


def close_match(value, valid, *, cutoff: float = 0.6):
    """The element of ``valid`` most like ``value`` ignoring case, or ``None``.

    ``difflib.get_close_matches`` on the lower-cased strings; the match is
    returned as spelled in ``valid``.

    >>> close_match("sesions", ["bars", "sessions"])
    'sessions'
    >>> close_match("b3", ["B3", "24/7"])
    'B3'
    >>> close_match("xyz", ["bars"]) is None
    True
    """
    valid = [str(v) for v in valid]
    lowered: dict[str, str] = {}
    for v in valid:
        lowered.setdefault(v.lower(), v)
    near = difflib.get_close_matches(str(value).lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[near[0]] if near else None


def did_you_mean(value, valid, *, cutoff: float = 0.6) -> str:
    """``" Did you mean 'x'?"`` for the closest element of ``valid``, or ``""``.

    >>> did_you_mean("optimise", ("optimize", "equal"))
    " Did you mean 'optimize'?"
    >>> did_you_mean("zzz", ("optimize", "equal"))
    ''
    """
    near = close_match(value, valid, cutoff=cutoff)
    return f" Did you mean {near!r}?" if near is not None else ""


def check_choice(name: str, value, valid, *, ignore_case: bool = False, type_error=TypeError):
    """The element of ``valid`` that ``value`` is, with a "did you mean" suggestion if none.

    ``valid`` holds strings (and ``None`` where that is a choice), in the
    order the message lists them; a dict gives its keys.  With
    ``ignore_case`` a value in another case or with surrounding blanks is
    accepted too, and the spelling in ``valid`` is returned.  A value that is
    not a str (nor an accepted ``None``) raises ``type_error``.

    >>> check_choice("unit", "bars", ("bars", "sessions"))
    'bars'
    >>> check_choice("vol", " egarch", ("GARCH", "EGARCH"), ignore_case=True)
    'EGARCH'
    """
    valid = tuple(valid)
    if value is None and None in valid:
        return None
    if isinstance(value, str):
        for v in valid:
            if isinstance(v, str) and value == v:
                return v
        if ignore_case:
            key = value.strip().lower()
            for v in valid:
                if isinstance(v, str) and key == v.lower():
                    return v
    rule = f"`{name}` must be one of {', '.join(map(repr, valid))}"
    if not isinstance(value, str):
        raise type_error(f"{rule}, got {type(value).__name__} {value!r}.")
    words = [v for v in valid if isinstance(v, str)]
    raise ParameterError(f"{rule}, got {value!r}.{did_you_mean(value, words)}")


def check_bool(name: str, value, *, type_error=TypeError) -> bool:
    """``True`` or ``False`` (numpy bools too); anything else raises ``type_error``.

    >>> check_bool("purge", True)
    True
    """
    if not isinstance(value, _BOOLS):
        raise type_error(f"`{name}` must be True or False, got {type(value).__name__} {value!r}.")
    return bool(value)


def check_int(name: str, value, minimum: int, maximum: int | None = None, *,
              allow_none: bool = False, hint: str = "", type_error=TypeError):
    """An integer in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None) as an ``int``.

    >>> check_int("n_splits", 5, 2)
    5
    """
    if value is None and allow_none:
        return None
    rule = f"an int >= {minimum}" if maximum is None else f"an int in [{minimum}, {maximum}]"
    rule = f"`{name}` must be {rule}{' or None' if allow_none else ''}"
    if isinstance(value, _BOOLS) or not isinstance(value, numbers.Integral):
        raise type_error(f"{rule}, got {type(value).__name__} {value!r}.{hint}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ParameterError(f"{rule}, got {int(value)!r}.{hint}")
    return int(value)


def _real_rule(lo, hi, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"a number in {'(' if lo_open else '['}{lo:.6g}, {hi:.6g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"a finite number {'>' if lo_open else '>='} {lo:.6g}"
    if hi is not None:
        return f"a finite number {'<' if hi_open else '<='} {hi:.6g}"
    return "a finite number"


def check_real(name: str, value, *, lo=None, hi=None, lo_open: bool = False, hi_open: bool = False,
               allow_none: bool = False, hint: str = "", type_error=TypeError):
    """A finite real number between ``lo`` and ``hi`` (each optional) as a ``float``.

    ``lo_open`` / ``hi_open`` exclude the bound itself.  NaN and infinities
    are always rejected.

    >>> check_real("C", 2, lo=0.0, lo_open=True)
    2.0
    """
    if value is None and allow_none:
        return None
    rule = f"`{name}` must be {_real_rule(lo, hi, lo_open, hi_open)}{' or None' if allow_none else ''}"
    if isinstance(value, _BOOLS) or not isinstance(value, numbers.Real):
        raise type_error(f"{rule}, got {type(value).__name__} {value!r}.{hint}")
    try:
        v = float(value)
    except OverflowError:  # an int too large for a float
        v = math.inf if value > 0 else -math.inf
    bad = not math.isfinite(v)
    bad = bad or (lo is not None and (v < lo or (lo_open and v == lo)))
    bad = bad or (hi is not None and (v > hi or (hi_open and v == hi)))
    if bad:
        raise ParameterError(f"{rule}, got {v!r}.{hint}")
    return v
