"""The live path in backtrader: queue feed, replay feed, a bundle's strategy in any Cerebro, a local
bar server and client.

Reference: the bundle's batch backtest in backtrader (:meth:`ModelBundle.backtest`, the whole
file's features and sides). Bar by bar, through a queue fed by a thread, by a replay, or over a
TCP connection on 127.0.0.1, the same bundle must give the same trades and equity.
"""

from __future__ import annotations

import warnings

import backtrader as bt
import numpy as np
import pytest

from engines.bt import BarClient, BarServer, QueueFeed, bundle_cerebro, replay_feed, run_bundle_live
from engines.engine import compare
from ml.exceptions import ParameterError
from tests.runners.test_paper import _bundle, bundle, replay, sessions  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def reference(bundle, replay):  # noqa: F811
    return bundle.backtest(replay, engine="backtrader")


def test_a_replay_feed_trades_as_the_batch_backtest(bundle, replay, reference):  # noqa: F811
    res = run_bundle_live(bundle, replay_feed(replay))
    diff = compare(reference, res)
    assert diff["equal"], diff
    assert diff["n_trades"][0] > 5
    d = res.meta["decisions"]
    assert len(d) == len(replay) and not res.meta["alerts"]


def test_the_network_path_end_to_end(bundle, replay, reference):  # noqa: F811
    feed = QueueFeed(columns=("vwap",))
    with BarServer(replay, linger=30) as server:
        assert server.host == "127.0.0.1"
        client = BarClient(feed, server.host, server.port)
        res = run_bundle_live(bundle, feed)
        client.join(5)
    assert client.received == len(replay) and client.error is None
    diff = compare(reference, res)
    assert diff["equal"], diff


def test_a_queue_fed_by_a_thread_and_a_users_own_cerebro(bundle, replay, reference):  # noqa: F811
    import threading

    feed = QueueFeed(columns=("vwap",))
    cols = ["open", "high", "low", "close", "volume", "vwap"]

    def client():
        for t, row in zip(replay.index, replay[cols].to_numpy()):
            feed.push(t, dict(zip(cols, row)))
        feed.end()

    threading.Thread(target=client, daemon=True).start()
    cerebro = bundle_cerebro(bundle, feed)
    strat = cerebro.run()[0]
    assert len(strat.equity) == len(replay)
    assert np.isclose(strat.equity[-1], reference.equity.iloc[-1])


def test_the_strategy_checks_the_feeds_columns_at_start(replay):  # noqa: F811
    from ml.models import get_model
    import pandas as pd

    X = pd.DataFrame({"vwap_dist_bar": np.linspace(-1, 1, 50)})
    m = get_model("logistic").fit(X, (X["vwap_dist_bar"] > 0).astype(int))
    needs_vwap = _bundle(m, ["vwap_dist_bar"], ["0", "1"])
    feed = QueueFeed()          # no vwap line declared
    with pytest.raises(ParameterError, match=r"no \['vwap'\] line"):
        bundle_cerebro(needs_vwap, feed).run()


def test_a_silent_queue_ends_after_its_timeout():
    feed = QueueFeed(timeout=0.3)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cerebro.run()
    assert len(feed) == 0


def test_a_plain_cerebro_is_refused_instead_of_trading_without_costs(bundle, replay):  # noqa: F811
    from engines.bt import BundleFollower
    from engines.contexts import exec_context, rules_context

    c = bundle.configs()
    cerebro = bt.Cerebro(stdstats=False)              # no cheat_on_open, backtrader's own broker
    cerebro.adddata(replay_feed(replay.iloc[:50]))
    cerebro.addstrategy(BundleFollower, bundle=bundle, calendar="B3", bar_minutes=1.0, rule=bundle.strategy_object(),
                        ex=exec_context(c["contract"], c["costs"], 100_000.0), ru=rules_context(c["sizing"],
                                                                                               c["stops"],
                                                                                               c["limits"]))
    with pytest.raises(ParameterError, match="bundle_cerebro"):
        cerebro.run()
