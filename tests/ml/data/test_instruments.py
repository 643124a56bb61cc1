"""Instrument presets: contract facts from the exchanges' specifications, costs by hand.

Specifications (exchange contract specs):
- WDO: US$10,000, quoted in R$ per US$1,000 -> R$10 a point, tick 0.5 = R$5.
- DOL: US$50,000 -> R$50 a point, tick 0.5 = R$25.
- WIN: R$0.20 per index point, tick 5 = R$1.  IND: R$1 per point, tick 5 = R$5.
- 6E: EUR 125,000, quoted in US$ per euro, tick 0.00005 = US$6.25.
- ES: US$50 x index, tick 0.25 = US$12.50.  MES: US$5 x index, tick 0.25 = US$1.25.
- NQ: US$20 x index, tick 0.25 = US$5.  CL: 1,000 barrels, tick 0.01 = US$10.
- B3 stocks: R$ per share, tick R$0.01, round lot 100 (fractional market: 1 share).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engines.bt import run_backtrader
from engines.simulate import Costs, Sizing, simulate
from ml.data import INSTRUMENTS, Instrument, custom_instrument, get_instrument, instrument_for, instruments_table
from ml.exceptions import ParameterError, UnknownInstrumentError


@pytest.mark.parametrize("name, multiplier, tick, tick_value, currency, calendar", [
    ("WDO", 10.0, 0.5, 5.0, "BRL", "B3"),
    ("DOL", 50.0, 0.5, 25.0, "BRL", "B3"),
    ("WIN", 0.2, 5.0, 1.0, "BRL", "B3_INDEX"),
    ("IND", 1.0, 5.0, 5.0, "BRL", "B3_INDEX"),
    ("6E", 125_000.0, 0.00005, 6.25, "USD", "CME_FX"),
    ("ES", 50.0, 0.25, 12.5, "USD", "CME_EQUITY"),
    ("MES", 5.0, 0.25, 1.25, "USD", "CME_EQUITY"),
    ("NQ", 20.0, 0.25, 5.0, "USD", "CME_EQUITY"),
    ("CL", 1000.0, 0.01, 10.0, "USD", "CME_ENERGY"),
    ("B3_STOCK", 1.0, 0.01, 0.01, "BRL", "B3_EQUITIES"),
])
def test_contract_specifications(name, multiplier, tick, tick_value, currency, calendar):
    inst = INSTRUMENTS[name]
    assert (inst.multiplier, inst.tick_size, inst.currency, inst.calendar) == (multiplier, tick, currency, calendar)
    assert inst.tick_value == pytest.approx(tick_value, rel=1e-12)


# One round trip of 2 contracts entered at `price`, 3 ticks of slippage a side, by hand:
# commission both sides + slippage = 2 x (2 x per-contract + pct x price x multiplier x 2) + 2 x 2 x 3 x tick value
@pytest.mark.parametrize("name, price, expected", [
    ("WDO", 5000.0, 2 * (2 * 1.50) + 2 * 2 * 3 * 5.0),             # R$6 + R$60
    ("DOL", 5000.0, 2 * (2 * 7.50) + 2 * 2 * 3 * 25.0),            # R$30 + R$300
    ("WIN", 130_000.0, 2 * (2 * 0.50) + 2 * 2 * 3 * 1.0),          # R$2 + R$12
    ("6E", 1.09, 2 * (2 * 2.50) + 2 * 2 * 3 * 6.25),               # US$10 + US$75
    ("ES", 5000.0, 2 * (2 * 2.25) + 2 * 2 * 3 * 12.5),             # US$9 + US$150
    ("MES", 5000.0, 2 * (2 * 0.62) + 2 * 2 * 3 * 1.25),
    ("NQ", 18000.0, 2 * (2 * 2.25) + 2 * 2 * 3 * 5.0),
    ("CL", 75.0, 2 * (2 * 2.50) + 2 * 2 * 3 * 10.0),
    ("B3_STOCK", 30.0, 2 * (0.00023 * 30.0 * 2) + 2 * 2 * 3 * 0.01),  # 0.023% of R$60 a side
    ("CRYPTO_SPOT", 60_000.0, 2 * (0.001 * 60_000.0 * 2) + 2 * 2 * 3 * 1e-8),  # 0.1% a side
    ("CRYPTO_PERP", 60_000.0, 2 * (0.0005 * 60_000.0 * 2) + 2 * 2 * 3 * 1e-8),
    ("US_STOCK", 150.0, 2 * (2 * 0.005) + 2 * 2 * 3 * 0.01),
])
def test_round_trip_cost_by_hand(name, price, expected):
    assert INSTRUMENTS[name].round_trip_cost(2, price, slippage_ticks=3) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name, symbol, price", [("6E", "6EH4", 1.0900), ("ES", "ESZ4", 5000.0),
                                                 ("WIN", "WINZ21", 130_000.0), ("B3_STOCK", "PETR4", 30.0)])
def test_both_engines_charge_the_preset_costs(name, symbol, price):
    """A flat price, one round trip of one lot in each engine with the preset's costs: the
    equity falls by exactly the hand-computed cost."""
    inst = INSTRUMENTS[name]
    idx = pd.date_range("2024-01-03 11:00", periods=4, freq="1min", tz="America/Sao_Paulo" if "B3" in
                        inst.calendar else "America/Chicago")
    px = np.full(4, price)
    bars = pd.DataFrame({"open": px, "high": px + 10 * inst.tick_size, "low": px - 10 * inst.tick_size,
                         "close": px, "volume": 1e6, "symbol": symbol}, index=idx)
    costs = Costs(commission_per_contract=inst.commission_per_contract, commission_pct=inst.commission_pct,
                  slippage_ticks=1.0)
    lot = inst.lot_size
    expected = 2 * inst.commission(lot, price) + 2 * lot * inst.tick_value  # 1 tick of slippage a side
    for engine in (simulate, run_backtrader):
        res = engine(bars, [1, 0, 0, 0], costs=costs, sizing=Sizing(contracts=lot), calendar=inst.calendar,
                     bar_minutes=1)
        assert len(res.trades) == 1
        assert res.meta["contract"]["name"] == name
        assert 100_000.0 - res.equity.iloc[-1] == pytest.approx(expected, rel=1e-9), engine.__name__


@pytest.mark.parametrize("symbol, name", [("WDOH25", "WDO"), ("WDOFUT", "WDO"), ("WDO$N", "WDO"),
                                          ("DOLZ24", "DOL"), ("WINZ21", "WIN"), ("INDG22", "IND"),
                                          ("6EH4", "6E"), ("6EH24", "6E"), ("ESZ4", "ES"), ("ESZ24", "ES"),
                                          ("ES1!", "ES"), ("MESZ4", "MES"), ("NQH5", "NQ"), ("CLF25", "CL"),
                                          ("PETR4", "B3_STOCK"), ("BOVA11", "B3_STOCK"),
                                          ("PETR4F", "B3_STOCK_FRACTIONAL"), ("BTCUSDT", "CRYPTO_SPOT"),
                                          ("ETH/USDT", "CRYPTO_SPOT"), ("BTCUSDT.P", "CRYPTO_PERP"),
                                          ("BTC-PERP", "CRYPTO_PERP")])
def test_symbols_map_to_their_preset(symbol, name):
    assert instrument_for(symbol).name == name


def test_a_crypto_pair_is_money_in_its_quote_currency():
    assert instrument_for("ETHBTC").currency == "BTC" and instrument_for("BTCUSDC").currency == "USDC"


def test_unknown_symbols_and_names_are_errors_that_say_how_to_define_one():
    with pytest.raises(UnknownInstrumentError) as info:
        instrument_for("ORCL")
    msg = str(info.value)
    assert "unknown symbol 'ORCL'" in msg and "WDO" in msg and "CRYPTO_PERP" in msg
    assert 'instrument = { name = "ORCL"' in msg
    with pytest.raises(UnknownInstrumentError, match="Did you mean 'WDO'"):
        get_instrument("WDOO")
    with pytest.raises(ParameterError, match="contract 'WDO' does not match the bars' symbol 'ESZ4'"):
        instrument_for("ESZ4", "WDO")


def test_custom_instruments_from_a_table():
    orcl = custom_instrument({"name": "ORCL", "kind": "stock", "currency": "USD", "multiplier": 1,
                              "tick_size": 0.01, "calendar": "XNYS", "commission": 0.005})
    assert isinstance(orcl, Instrument) and orcl.commission_per_contract == 0.005
    cheap = custom_instrument({"base": "WDO", "commission": 0.5, "margin": 1500})
    assert (cheap.name, cheap.multiplier, cheap.commission_per_contract, cheap.margin) == ("WDO", 10.0, 0.5, 1500.0)
    with pytest.raises(ParameterError, match="unknown key 'multipler'.*Did you mean 'multiplier'"):
        custom_instrument({"base": "WDO", "multipler": 2})
    with pytest.raises(ParameterError, match="missing kind, currency"):
        custom_instrument({"name": "X", "multiplier": 1, "tick_size": 0.01, "calendar": "XNYS"})
    with pytest.raises(ParameterError, match="unknown calendar"):
        custom_instrument({"base": "WDO", "calendar": "B33"})


def test_the_table_lists_every_preset():
    table = instruments_table()
    assert list(table.index) == list(INSTRUMENTS)
    assert table.loc["6E", "tick_value"] == 6.25 and table.loc["B3_STOCK", "size"] == "whole, lots of 100"
