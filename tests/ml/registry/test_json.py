"""to_jsonable: every output is valid strict JSON; plain JSON values pass unchanged."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier

from ml.registry import to_jsonable

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)

numpy_values = st.recursive(
    st.floats().map(np.float64) | st.integers(-2**62, 2**62).map(np.int64)
    | st.booleans().map(np.bool_) | st.floats(width=32).map(np.float32)
    | st.lists(st.floats(), max_size=5).map(np.array)
    | st.datetimes() | st.timedeltas() | st.datetimes().map(np.datetime64)
    | st.integers(-2**60, 2**60).map(pd.Timedelta)
    | st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2200, 1, 1))
      .map(pd.Timestamp),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.integers(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=60, deadline=None)
@given(json_values)
def test_plain_json_unchanged(value):
    assert to_jsonable(value) == value


@settings(max_examples=60, deadline=None)
@given(numpy_values)
def test_numpy_pandas_values_become_strict_json(value):
    out = to_jsonable(value)
    assert json.loads(json.dumps(out, allow_nan=False)) == out


def test_known_conversions():
    assert to_jsonable(np.float64("nan")) is None
    assert to_jsonable(pd.NaT) is None and to_jsonable(np.datetime64("NaT")) is None
    assert to_jsonable(pd.Timestamp("2024-01-01", tz="UTC")) == "2024-01-01T00:00:00+00:00"
    assert to_jsonable({1: {2, 1}, (1, 2): "a"}) == {"1": [1, 2], "[1, 2]": "a"}
    assert to_jsonable(pd.DataFrame({"a": [1, 2]})) == {"a": [1, 2]}
    assert to_jsonable(np.mean) == "numpy:mean"
    est = to_jsonable(RandomForestClassifier(n_estimators=3))
    assert est["class"] == "sklearn.ensemble._forest:RandomForestClassifier"
    assert est["params"]["n_estimators"] == 3
    assert to_jsonable(object(), strict=False).startswith("<object object")
