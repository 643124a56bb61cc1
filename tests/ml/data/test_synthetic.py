"""Synthetic markets from the bundled real bars: what they keep, the edge they plant, and causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.data import EDGE_KINDS, load_bars, no_edge_bars, planted_edge_bars, sample_path, validate_bars
from ml.exceptions import ParameterError


@pytest.fixture(scope="module")
def fil():
    return load_bars(sample_path("filusdt"))


def hit_rate(df, kind, lookback=5):
    """Share of bars moving the way the kind's signal (from the bars before) says, measured
    on the prices as a user sees them."""
    r = np.log(df["close"]).diff()
    if kind == "order_flow":
        sig = np.sign((df["buy_volume"] - df["sell_volume"]).shift(1))
    else:
        sig = np.sign(r.rolling(lookback).sum().shift(1))
        sig = -sig if kind == "mean_reversion" else sig
    m = (sig != 0) & (r != 0) & sig.notna()
    return float((np.sign(r) == sig)[m].mean()), int(m.sum())


def within(rate, n, target, sigmas=4.0):
    return abs(rate - target) <= sigmas * np.sqrt(target * (1 - target) / n)


def test_no_edge_keeps_every_bar_but_its_direction(fil):
    out = no_edge_bars(fil, seed=1, tick_size=None)
    assert out.index.equals(fil.index) and list(out.columns) == list(fil.columns)
    for col in ("volume", "trades"):
        assert (out[col].to_numpy() == fil[col].to_numpy()).all()
    # each bar's body, range and gap are the real ones, up to sign: volatility, tails, shapes kept
    body = np.log(out["close"] / out["open"]).to_numpy()
    real = np.log(fil["close"] / fil["open"]).to_numpy()
    assert np.allclose(np.abs(body), np.abs(real), atol=1e-12)
    rng_out = np.log(out["high"] / out["low"]).to_numpy()
    assert np.allclose(rng_out, np.log(fil["high"] / fil["low"]).to_numpy(), atol=1e-12)
    flipped = np.sign(body) != np.sign(real)
    assert 0.45 < flipped[real != 0].mean() < 0.55
    # buy and sell volume swap with the bar: total volume and |imbalance| are kept
    assert (out["buy_volume"] + out["sell_volume"] == fil["buy_volume"] + fil["sell_volume"]).all()
    validate_bars(out.rename_axis("timestamp").reset_index())          # a valid bar file


@pytest.mark.parametrize("kind", list(EDGE_KINDS))
def test_no_edge_bars_have_no_edge_of_any_kind(fil, kind):
    for seed in (1, 2):
        rate, n = hit_rate(no_edge_bars(fil, seed=seed), kind)
        assert within(rate, n, 0.5), (kind, seed, rate)


@pytest.mark.parametrize("kind", list(EDGE_KINDS))
@pytest.mark.parametrize("target", [0.53, 0.56])
def test_planted_edges_have_the_hit_rate_asked(fil, kind, target):
    rate, n = hit_rate(planted_edge_bars(fil, kind, hit_rate=target, seed=4), kind)
    assert within(rate, n, target), (kind, target, rate)
    # ... and no edge of the opposite kind beyond what its own signal implies
    if kind == "momentum":
        assert hit_rate(planted_edge_bars(fil, kind, hit_rate=target, seed=4), "mean_reversion")[0] < 0.5


def test_hit_rate_one_half_is_the_no_edge_market(fil):
    a = planted_edge_bars(fil, "momentum", hit_rate=0.5, seed=9)
    rate, n = hit_rate(a, "momentum")
    assert within(rate, n, 0.5)


def test_seeded_and_deterministic(fil):
    a = planted_edge_bars(fil, "order_flow", hit_rate=0.55, seed=3)
    b = planted_edge_bars(fil, "order_flow", hit_rate=0.55, seed=3)
    c = planted_edge_bars(fil, "order_flow", hit_rate=0.55, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["close"].equals(c["close"])
    assert a.attrs["synthetic"] == {"kind": "order_flow", "signal": EDGE_KINDS["order_flow"], "hit_rate": 0.55,
                                    "lookback": 5, "seed": 3}
    pd.testing.assert_frame_equal(no_edge_bars(fil, seed=7), no_edge_bars(fil, seed=7))


@pytest.mark.parametrize("make", [lambda b: planted_edge_bars(b, "momentum", hit_rate=0.6, seed=5),
                                  lambda b: planted_edge_bars(b, "order_flow", hit_rate=0.6, seed=5),
                                  lambda b: no_edge_bars(b, seed=5)])
def test_causal_changing_the_bars_after_t_changes_nothing_before_t(fil, make):
    t = 6000
    changed = fil.copy()
    changed.iloc[t:, changed.columns.get_loc("close")] *= 1.01
    changed.iloc[t:, changed.columns.get_loc("high")] *= 1.01
    changed.iloc[t:, changed.columns.get_loc("buy_volume")] = changed["sell_volume"].iloc[t:]
    a, b = make(fil), make(changed)
    pd.testing.assert_frame_equal(a.iloc[:t], b.iloc[:t])
    assert not a.iloc[t:].equals(b.iloc[t:])


def test_permute_reshuffles_each_session_and_keeps_its_first_bar(fil):
    out = no_edge_bars(fil, seed=2, method="permute")
    days = fil.index.floor("D")
    for day in days.unique()[:3]:
        real = fil.loc[days == day, "volume"].to_numpy()
        got = out.loc[days == day, "volume"].to_numpy()
        assert got[0] == real[0] and sorted(got) == sorted(real) and not (got == real).all()
    assert within(*hit_rate(out, "momentum"), 0.5)


def test_prices_are_rounded_to_the_instruments_tick():
    wdo = load_bars(sample_path("wdo"), symbol="WDOF22")
    out = planted_edge_bars(wdo, "momentum", hit_rate=0.55, seed=1)
    for col in ("open", "high", "low", "close"):
        assert np.allclose(out[col] / 0.5, np.round(out[col] / 0.5))
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
    assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()


@pytest.mark.parametrize("kw, match", [
    (dict(kind="momentun"), "Did you mean 'momentum'"),
    (dict(hit_rate=0.4), r"`hit_rate` must be a number in \[0.5, 1\]"),
    (dict(lookback=0), "`lookback` must be an int >= 1"),
    (dict(seed=-1), "`seed` must be an int >= 0"),
])
def test_bad_arguments_are_named(fil, kw, match):
    with pytest.raises(ParameterError, match=match):
        planted_edge_bars(fil, **kw)


def test_order_flow_needs_buy_and_sell_volume():
    wdo = load_bars(sample_path("wdo"), symbol="WDOF22")
    with pytest.raises(ParameterError, match="needs `buy_volume` and `sell_volume`"):
        planted_edge_bars(wdo, "order_flow")
    with pytest.raises(ParameterError, match="'flip' or 'permute'"):
        no_edge_bars(wdo, method="shuffle")


def test_doctests():
    import doctest

    from ml.data import _synthetic

    result = doctest.testmod(_synthetic, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
