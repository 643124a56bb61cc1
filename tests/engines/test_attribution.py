"""Attribution tables against sums done by hand, and the regime column from the project's RegimeModel."""

import warnings

import numpy as np
import pandas as pd
import pytest

from engines.attribution import attribution, attribution_html, regimes_at

TZ = "America/Sao_Paulo"


def _trades():
    t = pd.to_datetime(["2024-03-01 09:05", "2024-03-01 09:40", "2024-03-01 10:10", "2024-03-01 15:00",
                        "2024-03-01 17:55"]).tz_localize(TZ)
    return pd.DataFrame({"entry_time": t, "side": [1, -1, 1, 1, -1], "net_pnl": [10.0, -4.0, 6.0, -2.0, 3.0],
                         "exit_reason": ["signal", "stop", "take", "signal", "session"],
                         "closed": [True, True, True, True, False]})


def test_tables_by_hand():
    a = attribution(_trades())
    assert set(a) == {"hour", "side", "exit_reason"}                   # no bars: no regime column
    hour = a["hour"]
    assert list(hour.index) == ["09:00", "10:00", "15:00"]             # the open trade at 17:55 is left out
    assert hour.loc["09:00"].tolist() == [2, 6.0, 0.5, 3.0]            # trades, net, hit rate, mean
    side = a["side"]
    assert side.loc["long"].tolist() == pytest.approx([3, 14.0, 2 / 3, 14.0 / 3])
    assert side.loc["short"].tolist() == [1, -4.0, 0.0, -4.0]
    assert a["exit_reason"]["net_pnl"].to_dict() == {"signal": 8.0, "stop": -4.0, "take": 6.0}
    page = attribution_html(a, "BRL")
    assert "By entry hour (exchange time)" in page and "BRL 6.00" in page and "66.7%" in page
    assert attribution(_trades().iloc[4:]) == {} and "No closed trade" in attribution_html({})


def test_regimes_order_by_volatility_on_real_bars():
    from ml.data import continuous_contract, load_bars, sample_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(load_bars(sample_path("wdo"))).iloc[:6000]
    reg = regimes_at(bars, calendar="B3")
    r = np.log(bars["close"]).diff().abs()
    by = r.groupby(reg.to_numpy()).mean()
    assert set(reg.dropna()) == {"calm", "volatile"} and by["volatile"] > 1.2 * by["calm"]
    # trades entered at bars of each regime land in that regime's row
    t = _trades().iloc[:4].copy()
    t["entry_time"] = [reg[reg == "calm"].index[100], reg[reg == "volatile"].index[100],
                       reg[reg == "volatile"].index[200], reg.index[0]]
    a = attribution(t, bars, calendar="B3")
    assert a["regime"]["trades"].to_dict() == {"calm": 1, "volatile": 2, "warming up": 1}
