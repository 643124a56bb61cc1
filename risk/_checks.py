"""Input validation and kernel dispatch shared by :mod:`risk`."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ml.exceptions import ParameterError
from risk import _limits_nb, _py, _sizing_nb, _stops_nb

#: Test-only switch: run the plain-Python twins instead of the numba kernels.
PURE_PYTHON = False

_KERNEL_MODULES = (_sizing_nb, _stops_nb, _limits_nb)


def kernel(name: str):
    """The numba kernel ``<name>_nb``, or its twin ``<name>_py`` when :data:`PURE_PYTHON`."""
    if PURE_PYTHON:
        return getattr(_py, name + "_py")
    for module in _KERNEL_MODULES:
        fn = getattr(module, name + "_nb", None)
        if fn is not None:
            return fn
    raise AttributeError(f"no risk kernel named {name + '_nb'!r}")


def _is_real(value) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)


def check_real(name: str, value, *, positive: bool = False, nonnegative: bool = False,
               allow_none: bool = False, hint: str = ""):
    """A finite real (``> 0`` / ``>= 0`` on request); ``None`` passes through when allowed."""
    if value is None and allow_none:
        return None
    if not _is_real(value):
        none = " or None" if allow_none else ""
        raise TypeError(f"`{name}` must be a real number{none}, got {type(value).__name__} {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"`{name}` must be finite, got {value!r}.{hint}")
    if positive and not value > 0.0:
        raise ParameterError(f"`{name}` must be > 0, got {value!r}.{hint}")
    if nonnegative and not value >= 0.0:
        raise ParameterError(f"`{name}` must be >= 0, got {value!r}.{hint}")
    return value


def check_fraction(name: str, value, *, allow_none: bool = False, what: str = "of equity"):
    """A fraction in (0, 1]: 0.02 means 2%; 2 is an error ("means 200%"), never 2%."""
    if value is None and allow_none:
        return None
    if not _is_real(value):
        none = " or None" if allow_none else ""
        raise TypeError(f"`{name}` must be a fraction in (0, 1]{none}, got "
                        f"{type(value).__name__} {value!r}.")
    value = float(value)
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        if math.isfinite(value) and value > 1.0:
            raise ParameterError(
                f"`{name}` must be a fraction in (0, 1] {what} (0.02 means 2%), got {value!r}, "
                f"which means {value * 100:g}% {what}; for {value:g}% pass {value / 100:g}.")
        raise ParameterError(f"`{name}` must be a fraction in (0, 1] {what} (0.02 means 2%), "
                             f"got {value!r}.")
    return value


def check_probability(name: str, value) -> float:
    if not _is_real(value):
        raise TypeError(f"`{name}` must be a probability in [0, 1], got {type(value).__name__} {value!r}.")
    value = float(value)
    if not (0.0 <= value <= 1.0):
        hint = f" (a probability, not a percentage: for {value:g}% pass {value / 100:g})" if value > 1 else ""
        raise ParameterError(f"`{name}` must be in [0, 1]{hint}, got {value!r}.")
    return value


def check_side(value) -> int:
    if isinstance(value, (bool, np.bool_)) or not _is_real(value) or value not in (1, -1):
        raise ParameterError(f"`side` must be +1 (long) or -1 (short), got {value!r}.")
    return int(value)


def check_int(name: str, value, minimum: int, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        none = " or None" if allow_none else ""
        raise TypeError(f"`{name}` must be an int >= {minimum}{none}, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ParameterError(f"`{name}` must be >= {minimum}, got {int(value)!r}.")
    return int(value)


def check_max_position(value):
    """``None`` -> inf (no cap); else a finite number > 0."""
    if value is None:
        return math.inf
    return check_real("max_position", value, positive=True,
                      hint=" Pass None for no cap.")
