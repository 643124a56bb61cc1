"""Exports people really have: ProfitChart and MetaTrader 5 layouts, ``;`` and decimal commas.

Each file is written here from the bundled real WDO sample in the platform's own layout (as
documented in ``ml/data/samples/README.md`` for the ProfitChart source files: ``;``-separated,
Brazilian number format ``5.553,500``, ``dd/mm/yyyy`` dates, newest row first), and must load
into the same bars as the sample itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ml.data import load_bars, sample_path
from ml.exceptions import BarDataError, UnsortedDataWarning


@pytest.fixture(scope="module")
def wdo():
    bars = load_bars(sample_path("wdo"), symbol="WDOF22")
    return bars.iloc[:1200]  # two sessions of one contract


def _br(x, decimals):
    """Brazilian number format: 5553.5 -> '5.553,500'."""
    return f"{x:,.{decimals}f}".replace(",", "X").replace(".", ",").replace("X", ".")


def _profitchart_rows(bars, symbol="WDOFUT"):
    rows = []
    for ts, r in bars.iloc[::-1].iterrows():  # newest first, as ProfitChart exports
        fin = r["vwap"] * r["volume"] * 10.0   # R$ traded: the multiplier is R$10 per point
        rows.append(";".join([symbol, ts.strftime("%d/%m/%Y"), ts.strftime("%H:%M:%S"),
                              *(_br(r[c], 3) for c in ("open", "high", "low", "close")),
                              _br(fin, 2), _br(r["volume"], 0)]))
    return rows


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsortedDataWarning)  # newest first: sorted, with a warning
        return load_bars(path, **kw)


def _same_bars(got, want):
    assert got.index.equals(want.index)
    for c in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy())


def test_profitchart_export_with_portuguese_header(tmp_path, wdo):
    path = tmp_path / "WDO.csv"
    header = "Ativo;Data;time;open;high;low;close;Volume;Quantidade"
    path.write_text("\n".join([header, *_profitchart_rows(wdo)]) + "\n", encoding="utf-8")
    with pytest.warns(UnsortedDataWarning):
        got = load_bars(path)
    _same_bars(got, wdo)
    assert set(got["symbol"]) == {"WDOFUT"} and got.attrs["bars"]["instrument"] == "WDO"
    # VWAP = R$ volume / (contracts x R$10): back to the sample's VWAP within the R$0.01 rounding
    np.testing.assert_allclose(got["vwap"].to_numpy(), wdo["vwap"].to_numpy(), atol=1e-4)
    layout = got.attrs["bars"]["layouts"][0]
    assert (layout["format"], layout["sep"], layout["decimal"], layout["thousands"]) == ("profitchart", ";", ",", ".")


def test_profitchart_export_without_header_in_windows_1252(tmp_path, wdo):
    path = tmp_path / "WDOFUT_F_0_1min.csv"
    path.write_bytes("\n".join(_profitchart_rows(wdo)).encode("cp1252"))
    got = _load(path)
    _same_bars(got, wdo)
    assert got.attrs["bars"]["layouts"][0]["header"] is False


def test_metatrader5_export(tmp_path, wdo):
    lines = ["<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"]
    for ts, r in wdo.iterrows():
        lines.append("\t".join([ts.strftime("%Y.%m.%d"), ts.strftime("%H:%M:%S"),
                                *(f"{r[c]:.3f}" for c in ("open", "high", "low", "close")),
                                "7", f"{r['volume']:.0f}", "1"]))
    path = tmp_path / "WDO$N_M1_202112.csv"
    path.write_text("\n".join(lines) + "\n")
    got = load_bars(path)
    _same_bars(got, wdo)
    assert got["symbol"].iloc[0] == "WDO$N" and got.attrs["bars"]["instrument"] == "WDO"
    assert got.attrs["bars"]["layouts"][0]["format"] == "metatrader5"
    # forex CFDs export <VOL> 0: the tick volume is used, and the layout says so
    zero = [ln.rsplit("\t", 2)[0] + "\t0\t1" if i else ln for i, ln in enumerate(lines)]
    path.write_text("\n".join(zero) + "\n")
    got = load_bars(path)
    assert (got["volume"] == 7).all()
    assert any("TICKVOL" in n for n in got.attrs["bars"]["layouts"][0]["notes"])


def test_semicolon_and_decimal_comma_with_the_schema_header(tmp_path, wdo):
    body = [";".join(["timestamp", "open", "high", "low", "close", "volume", "symbol"])]
    for ts, r in wdo.iterrows():
        body.append(";".join([ts.strftime("%Y-%m-%d %H:%M:%S"),
                              *(f"{r[c]:.1f}".replace(".", ",") for c in ("open", "high", "low", "close")),
                              f"{r['volume']:.0f}", "WDOF22"]))
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(body) + "\n")
    _same_bars(load_bars(path), wdo)
    # the options override the detection: read with the wrong decimal mark it cannot parse
    with pytest.raises(BarDataError, match="non-numeric value '5"):
        load_bars(path, decimal=".")


def test_unreadable_layout_says_what_was_seen(tmp_path):
    path = tmp_path / "odd.txt.csv"
    path.write_text("some report\nprinted 2024-01-02\nno columns here, at all; really\n")
    with pytest.raises(BarDataError) as info:
        load_bars(path)
    msg = str(info.value)
    assert "odd.txt.csv" in msg and "separator" in msg and "header 'some report'" in msg
    assert "sep=" in msg


def test_bar_close_stamps_are_shifted_to_bar_opens(tmp_path, wdo):
    shifted = wdo.copy()
    shifted.index = shifted.index + pd.Timedelta(minutes=1)  # a vendor that stamps bar ends
    path = tmp_path / "end_stamped.csv"
    shifted.tz_localize(None).rename_axis("timestamp").to_csv(path)
    got = load_bars(path, bar_time="close")
    _same_bars(got, wdo)
    assert got.attrs["bars"]["shifted_minutes"] == -1.0
