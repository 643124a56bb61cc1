"""Shared fixtures: the real samples bundled with the package."""

import warnings

import pytest

from ml.data import load_bars, sample_path


@pytest.fixture(scope="session", autouse=True)
def _ledger_outside_home(tmp_path_factory):
    """No test writes to the user's trial ledger (~/.daytrade-ml)."""
    from ml.registry import LEDGER_ENV

    mp = pytest.MonkeyPatch()
    mp.setenv(LEDGER_ENV, str(tmp_path_factory.mktemp("ledger") / "trials.jsonl"))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def wdo_bars():
    """B3 mini-dollar 1-minute bars (48 sessions, 3 contracts, no order-flow columns)."""
    return load_bars(sample_path("wdo"))


@pytest.fixture(scope="session")
def fil_bars():
    """Binance FILUSDT 1-minute bars (7 UTC days, all 11 columns)."""
    return load_bars(sample_path("filusdt"))


@pytest.fixture(scope="session")
def wdo_one_contract(wdo_bars):
    """WDO bars of the first contract only (one continuous price series)."""
    return wdo_bars[wdo_bars["symbol"] == "WDOZ21"]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def as_wdo(bars):
    """Tag a hand-made frame as WDO bars, as ``load_bars`` would record it: the engines
    never assume a contract, so a frame without a symbol must say what it is."""
    bars.attrs["bars"] = {**bars.attrs.get("bars", {}), "instrument": "WDO"}
    return bars
