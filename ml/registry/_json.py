"""Conversion of metadata values (numpy, pandas, datetimes, estimators) to JSON-safe Python."""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import math
from pathlib import PurePath

import numpy as np
import pandas as pd

__all__ = ["to_jsonable"]

_MAX_DEPTH = 50


def to_jsonable(obj, *, strict: bool = True, _where: str = "metadata", _depth: int = 0):
    """A copy of ``obj`` made only of ``dict``, ``list``, ``str``, ``int``,
    ``float``, ``bool`` and ``None``.

    Parameters
    ----------
    obj : object
        Value to convert.
    strict : bool, default True
        What to do with a value of no known JSON form: raise :class:`TypeError`
        naming where it is (``True``) or store its ``repr`` (``False``).

    Returns
    -------
    object
        JSON-safe value.

    Notes
    -----
    - numpy scalars become Python scalars, arrays nested lists;
    - non-finite floats (NaN, +-inf) become ``None`` (JSON has no NaN);
      ``NaT`` and ``pd.NA`` become ``None``;
    - ``Timestamp``/``datetime``/``date``/``time``/``np.datetime64`` become
      ISO 8601 strings (offset kept when timezone-aware); ``Timedelta`` and
      ``timedelta`` their ISO 8601 duration;
    - ``Series`` becomes ``{str(index): value}``, ``DataFrame``
      ``{column: [values]}``, ``Index`` a list;
    - sets become sorted lists (by ``repr`` when unorderable), tuples lists;
      dict keys become strings;
    - classes and functions become ``"module:qualname"``; objects with
      ``get_params`` (estimators) ``{"class": ..., "params": ...}``;
    - ``Path`` becomes ``str``, ``Enum`` its value, ``Decimal`` a float,
      ``bytes`` a hex string.
    """
    if _depth > _MAX_DEPTH:
        raise TypeError(f"`{_where}` is nested more than {_MAX_DEPTH} levels deep (a cycle?); "
                        "pass plain values.")
    rec = dict(strict=strict, _depth=_depth + 1)

    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, decimal.Decimal):
        return to_jsonable(float(obj), _where=_where, **rec)
    if isinstance(obj, (complex, np.complexfloating)):
        return {"real": to_jsonable(obj.real, **rec), "imag": to_jsonable(obj.imag, **rec)}
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, (pd.Timestamp, _dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    if isinstance(obj, np.datetime64):
        if np.isnat(obj):
            return None
        try:
            return pd.Timestamp(obj).isoformat()
        except (OverflowError, ValueError):  # outside pandas' nanosecond range
            return str(obj)
    if isinstance(obj, (pd.Timedelta, _dt.timedelta, np.timedelta64)):
        if isinstance(obj, np.timedelta64) and np.isnat(obj):
            return None
        try:
            return pd.Timedelta(obj).isoformat()
        except (OverflowError, ValueError):  # outside pandas' nanosecond range
            return str(obj)
    if isinstance(obj, (pd.Period, pd.Interval)):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, _where=_where, **rec)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, np.generic):  # other numpy scalars (str_, void, ...)
        return to_jsonable(obj.item(), _where=_where, **rec)
    if isinstance(obj, dict):
        return {_key(k): to_jsonable(v, _where=f"{_where}[{k!r}]", **rec) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return {_key(c): to_jsonable(obj[c].tolist(), _where=f"{_where}[{c!r}]", **rec)
                for c in obj.columns}
    if isinstance(obj, pd.Series):
        return {_key(k): to_jsonable(v, _where=f"{_where}[{k!r}]", **rec) for k, v in obj.items()}
    if isinstance(obj, (np.ndarray, pd.Index, pd.api.extensions.ExtensionArray)):
        return [to_jsonable(v, _where=f"{_where}[{i}]", **rec) for i, v in enumerate(list(obj))]
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, _where=f"{_where}[{i}]", **rec) for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        items = [to_jsonable(v, _where=f"{_where}{{...}}", **rec) for v in obj]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(obj, type) or callable(obj) and hasattr(obj, "__qualname__") \
            and not hasattr(obj, "get_params"):
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if module and qualname:
            return f"{module}:{qualname}"
    if hasattr(obj, "get_params") and callable(obj.get_params):
        try:
            params = obj.get_params(deep=False)
        except TypeError:
            params = obj.get_params()
        return {"class": f"{type(obj).__module__}:{type(obj).__qualname__}",
                "params": to_jsonable(params, _where=f"{_where}.params", **rec)}
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        return to_jsonable(obj.item(), _where=_where, **rec)
    if strict:
        raise TypeError(f"`{_where}` holds a {type(obj).__module__}.{type(obj).__qualname__}, "
                        "which has no JSON form; pass a str, number, list, dict, numpy or "
                        f"pandas value instead (got {_short_repr(obj)}).")
    return repr(obj)


def _key(k) -> str:
    if isinstance(k, str):
        return k
    v = to_jsonable(k, strict=False)
    return v if isinstance(v, str) else str(v)


def _short_repr(obj, n: int = 80) -> str:
    r = repr(obj)
    return r if len(r) <= n else r[: n - 3] + "..."
