"""Position sizing: hand-computed sizes, whole-contract truncation, fraction validation."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import risk
from ml.exceptions import ParameterError
from risk import sizing
from risk._py import round_quantity_py
from risk._sizing_nb import QTY_EPS, fixed_fraction_nb, round_quantity_nb
from risk.sizing import (
    CONTRACTS,
    ContractSpec,
    fixed_contracts,
    fixed_fraction,
    get_contract,
    kelly_fraction,
    kelly_size,
    round_quantity,
    volatility_target,
)


# --------------------------------------------------------------------------- contract specs
def test_presets():
    wdo, win, crypto = CONTRACTS["WDO"], CONTRACTS["WIN"], CONTRACTS["CRYPTO_SPOT"]
    assert (wdo.multiplier, wdo.tick_size, wdo.lot_size, wdo.allow_fractional) == (10.0, 0.5, 1, False)
    assert (wdo.name, wdo.currency, wdo.margin) == ("WDO", "BRL", None)
    assert (win.multiplier, win.tick_size) == (0.2, 5.0)
    assert crypto.allow_fractional and crypto.lot_size == 0.001 and crypto.multiplier == 1.0
    assert ContractSpec(name="WDO", currency="BRL") == wdo
    assert get_contract("wdo") is wdo and get_contract("crypto") is crypto
    assert get_contract(None).multiplier == wdo.multiplier
    assert get_contract("WDO", multiplier=50.0).multiplier == 50.0


def test_contract_spec_validation():
    with pytest.raises(ParameterError, match="whole number of contracts"):
        ContractSpec(lot_size=1.5)
    with pytest.raises(ParameterError, match="`multiplier` must be > 0"):
        ContractSpec(multiplier=0.0)
    with pytest.raises(ParameterError, match="Did you mean 'WDO'"):
        get_contract("WDD")
    with pytest.raises(TypeError, match="allow_fractional"):
        ContractSpec(allow_fractional=1)
    with pytest.raises(Exception):
        CONTRACTS["WDO"].multiplier = 5.0  # frozen


def test_round_price_to_tick():
    wdo = CONTRACTS["WDO"]
    assert wdo.round_price(5012.37) == 5012.5
    assert wdo.round_price(5012.37, -1) == 5012.0
    assert wdo.round_price(5012.37, 1) == 5012.5
    assert wdo.round_price(5012.5, 1) == 5012.5  # on the grid: unchanged
    assert CONTRACTS["WIN"].round_price(120_003.0, -1) == 120_000.0
    assert wdo.point_value(5.0) == 50.0


# --------------------------------------------------------------------------- rounding
def test_truncation_toward_zero_like_int():
    for q in (20.9, -20.9, 0.999, -0.999, 3.0, -3.0, 0.0, 1e6 + 0.5, -(1e6 + 0.5)):
        assert round_quantity(q) == int(q)
        assert round_quantity_nb(q, 1.0, False) == float(int(q))
    assert round_quantity(23.0, ContractSpec(lot_size=5)) == 20
    assert round_quantity(-23.0, ContractSpec(lot_size=5)) == -20
    assert round_quantity(0.12345, "crypto") == pytest.approx(0.123, abs=1e-15)
    assert round_quantity(-0.12345, "crypto") == pytest.approx(-0.123, abs=1e-15)
    assert round_quantity(0.0009, "crypto") == 0.0
    assert isinstance(round_quantity(2.5), int) and isinstance(round_quantity(2.5, "crypto"), float)


def test_float_noise_below_a_whole_lot_is_that_lot():
    raw = 0.01 * 12_000 / (3.0 * 0.2)  # = 200 by hand, 199.99999999999997 in floats
    assert raw < 200 and int(raw) == 199
    assert round_quantity(raw) == 200
    assert fixed_fraction(12_000, 0.01, multiplier=0.2, stop_distance=3.0) == 200
    assert round_quantity(200 - 1e-6) == 199  # beyond the float-noise tolerance: int()


@settings(max_examples=150, deadline=None)
@given(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False))
def test_rounding_identical_to_int_outside_the_noise_band(q):
    lots = abs(q)
    gap = math.ceil(lots) - lots
    if 0 < gap <= QTY_EPS * max(1.0, lots):
        expected = math.copysign(math.ceil(lots), q)  # float noise: snapped up
    else:
        expected = int(q)
    assert round_quantity_nb(q, 1.0, False) == expected
    assert round_quantity_py(q, 1.0, False) == expected
    assert round_quantity(q) == expected
    # signed rounding is symmetric: side * q rounds like q
    assert round_quantity_nb(-q, 1.0, False) == -round_quantity_nb(q, 1.0, False)


def test_rounding_of_non_finite_is_zero():
    assert round_quantity_nb(math.nan, 1.0, False) == 0.0
    assert round_quantity_nb(math.inf, 1.0, False) == 0.0
    with pytest.raises(ParameterError):
        round_quantity(math.nan)


# --------------------------------------------------------------------------- fixed sizes
def test_fixed_contracts(engine):
    assert fixed_contracts(3) == 3
    assert fixed_contracts(3, max_position=2) == 2
    assert fixed_contracts(2.7) == 2
    assert fixed_contracts(0.5) == 0
    assert fixed_contracts(0.0015, contract="crypto") == pytest.approx(0.001)
    with pytest.raises(ParameterError):
        fixed_contracts(-1)


def test_fixed_fraction_wdo_hand_example(engine):
    # R$100,000 x 1% = R$1,000 at risk; 5-point stop x R$10/point = R$50 per contract -> 20
    assert fixed_fraction(100_000, 0.01, 5000.0, 10.0, stop_distance=5.0) == 20
    assert fixed_fraction(100_000, 0.01, 5000.0, contract="WDO", stop_distance=5.0) == 20
    assert fixed_fraction_nb(100_000.0, 0.01, 5000.0, 10.0, 5.0, 1.0, 1.0, math.inf, False) == 20.0
    # R$104,500 -> 20.9 contracts -> truncated to 20, as int()
    assert fixed_fraction(104_500, 0.01, 5000.0, 10.0, stop_distance=5.0) == 20
    # cap before rounding
    assert fixed_fraction(100_000, 0.01, 5000.0, 10.0, stop_distance=5.0, max_position=15) == 15
    assert fixed_fraction(100_000, 0.01, 5000.0, 10.0, stop_distance=5.0, max_position=2.5) == 2
    # WIN: R$0.20/point, 100-point stop, R$10,000 x 2% = R$200 / R$20 -> 10
    assert fixed_fraction(10_000, 0.02, 120_000.0, contract="WIN", stop_distance=100.0) == 10
    # a stop so wide one contract is too much -> 0
    assert fixed_fraction(10_000, 0.01, 5000.0, 10.0, stop_distance=20.0) == 0


def test_fixed_fraction_notional(engine):
    # 50% of R$100,000 notional; one WDO at 5,000 points is R$50,000 -> 1 contract
    assert fixed_fraction(100_000, 0.5, 5000.0, 10.0) == 1
    # crypto: 1% of 10,000 USDT at 50,000 -> 0.002 BTC
    q = fixed_fraction(10_000, 0.01, 50_000.0, contract="crypto")
    assert isinstance(q, float) and q == pytest.approx(0.002, abs=1e-15)
    # 0.5% -> 0.001 (the minimum); 0.4% -> 0.0008 < min_qty -> 0
    assert fixed_fraction(10_000, 0.005, 50_000.0, contract="crypto") == pytest.approx(0.001)
    assert fixed_fraction(10_000, 0.004, 50_000.0, contract="crypto") == 0.0


@pytest.mark.parametrize("bad, msg", [
    (2, "means 200%"), (1.5, "means 150%"), (50, "means 5000%"),
    (0, r"\(0, 1\]"), (-0.01, r"\(0, 1\]"), (math.nan, r"\(0, 1\]"),
])
def test_fraction_is_never_a_percentage(bad, msg):
    with pytest.raises(ParameterError, match=msg):
        fixed_fraction(100_000, bad, 5000.0, 10.0, stop_distance=5.0)


def test_fraction_error_message_suggests_the_fraction():
    with pytest.raises(ParameterError) as info:
        fixed_fraction(100_000, 2, 5000.0, 10.0)
    msg = str(info.value)
    assert "`fraction`" in msg and "0.02 means 2%" in msg and "pass 0.02" in msg
    assert fixed_fraction(100_000, 1, 5000.0, 10.0) == 2  # 1 is 100%, allowed


def test_fixed_fraction_argument_errors():
    with pytest.raises(ParameterError, match="`price` is required"):
        fixed_fraction(100_000, 0.01)
    with pytest.raises(ParameterError, match="`stop_distance` must be > 0"):
        fixed_fraction(100_000, 0.01, 5000.0, stop_distance=0.0)
    with pytest.raises(ParameterError, match="`equity` must be > 0"):
        fixed_fraction(-1.0, 0.01, 5000.0)
    with pytest.raises(TypeError, match="`fraction`"):
        fixed_fraction(100_000, "1%", 5000.0)
    with pytest.raises(ParameterError, match="`max_position`"):
        fixed_fraction(100_000, 0.01, 5000.0, max_position=0)


# --------------------------------------------------------------------------- volatility target
def test_volatility_target_hand_example(engine):
    # R$100 target per bar / (0.0005 * 5000 * R$10) = R$25 per contract -> 4
    assert volatility_target(100_000, 0.001, 0.0005, 5000.0, 10.0) == 4
    # annual 1% with 100 periods a year = 0.1% per bar -> the same 4
    assert volatility_target(100_000, 0.01, 0.0005, 5000.0, 10.0, periods_per_year=100) == 4
    # sigma doubles -> half the size
    assert volatility_target(100_000, 0.001, 0.001, 5000.0, 10.0) == 2
    assert volatility_target(100_000, 0.001, 0.0005, 5000.0, 10.0, max_position=3) == 3


def test_volatility_target_series_keeps_index_and_nan_is_flat(engine):
    idx = pd.date_range("2024-01-02 09:00", periods=4, freq="1min", tz="America/Sao_Paulo")
    sigma = pd.Series([np.nan, 0.0005, 0.001, 0.0003], index=idx)  # GARCH warm-up NaN first
    out = volatility_target(100_000, 0.001, sigma, 5000.0, 10.0)
    assert isinstance(out, pd.Series) and out.index.equals(idx)
    np.testing.assert_array_equal(out.to_numpy(), [0.0, 4.0, 2.0, 6.0])  # 6.67 -> 6
    arr = volatility_target(np.array([100_000.0, 50_000.0]), 0.001, 0.0005, np.array([5000.0, 5000.0]), 10.0)
    np.testing.assert_array_equal(arr, [4.0, 2.0])


def test_volatility_target_validation():
    with pytest.raises(ParameterError, match="means 1500%"):
        volatility_target(100_000, 15, 0.0005, 5000.0, 10.0, periods_per_year=252)
    with pytest.raises(ParameterError, match="`sigma_forecast` must be >= 0"):
        volatility_target(100_000, 0.001, np.array([0.001, -0.001]), 5000.0, 10.0)
    with pytest.raises(ParameterError, match="broadcast"):
        volatility_target(100_000, 0.001, np.ones(3) * 1e-3, np.ones(2) * 5000.0, 10.0)
    with pytest.raises(ParameterError, match="`periods_per_year` must be >= 1"):
        volatility_target(100_000, 0.001, 0.001, 5000.0, 10.0, periods_per_year=0)


# --------------------------------------------------------------------------- Kelly
def test_kelly_fraction_hand_examples(engine):
    # f* = p - (1 - p) / b = 0.55 - 0.45 = 0.10; half Kelly 0.05
    assert kelly_fraction(0.55, 1.0, fraction=1.0) == pytest.approx(0.10, abs=1e-15)
    assert kelly_fraction(0.55, 1.0) == pytest.approx(0.05, abs=1e-15)
    # p = 0.5, b = 2: f* = 0.5 - 0.25 = 0.25, half 0.125
    assert kelly_fraction(0.5, 2.0) == pytest.approx(0.125, abs=1e-15)
    # p = 0.9, b = 2: f* = 0.85, half 0.425 -> capped at 0.25
    assert kelly_fraction(0.9, 2.0) == 0.25
    assert kelly_fraction(0.9, 2.0, cap=0.3) == 0.3
    # no edge: floored at 0, never negative (no "bet the other side")
    assert kelly_fraction(0.4, 1.0) == 0.0
    assert kelly_fraction(0.5, 1.0) == 0.0


def test_kelly_validation():
    with pytest.raises(ParameterError, match="probability"):
        kelly_fraction(55, 1.0)
    with pytest.raises(ParameterError, match="means 200%"):
        kelly_fraction(0.55, 1.0, fraction=2)
    with pytest.raises(ParameterError, match="`payoff_ratio` must be > 0"):
        kelly_fraction(0.55, 0.0)
    with pytest.raises(ParameterError, match="`cap`"):
        kelly_fraction(0.55, 1.0, cap=25)


def test_kelly_size(engine):
    # half Kelly 5% of R$100,000 = R$5,000 at a 5-point WDO stop (R$50) -> 100 contracts
    assert kelly_size(100_000, 0.55, 1.0, stop_distance=5.0) == 100
    assert kelly_size(100_000, 0.55, 1.0, stop_distance=5.0, max_position=50) == 50
    # notional: 5% of R$100,000 = R$5,000 of WDO at R$50,000 each -> 0.1 -> 0
    assert kelly_size(100_000, 0.55, 1.0, 5000.0) == 0
    assert kelly_size(1_000_000, 0.55, 1.0, 5000.0) == 1
    assert kelly_size(100_000, 0.45, 1.0, stop_distance=5.0) == 0  # no edge


# --------------------------------------------------------------------------- package surface
def test_package_exports_sorted_all():
    assert risk.__all__ == sorted(risk.__all__)
    for name in risk.__all__:
        assert hasattr(risk, name)


@pytest.mark.parametrize("module", ["risk.sizing", "risk.stops", "risk.limits"])
def test_docstring_examples(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


def test_sizing_module_all():
    for name in sizing.__all__:
        assert hasattr(sizing, name)
