"""One definition of the strategy, risk, cost, execution and seed flags for every runner (issue 13, item 4).

The runners used to spell them apart: ``--sl-atr 0`` meant "no stop" in ``runners.sweep`` and was
refused by ``runners.walkforward``, and so did ``--max-bars 0``, ``--flat-bars-before-close 0``,
``--impact 0``; ``--long-only`` was a switch in one and a pair of switches in the other.
"""

from __future__ import annotations

import argparse

import pytest

from runners._pipeline import execution_of, limits_of, stops_of, strategy_of
from runners.sweep import build_parser as sweep_parser
from runners.walkforward import build_parser as walkforward_parser

SHARED = ("long_threshold", "short_threshold", "long_only", "min_holding", "flat_bars_before_close", "sl_atr",
          "tp_atr", "trail_atr", "max_bars", "atr_window", "max_daily_loss", "max_trades_per_day", "commission",
          "commission_pct", "slippage_ticks", "contracts", "initial_equity", "impact", "participation", "seed")
PARSERS = {"walkforward": walkforward_parser, "sweep": sweep_parser}


def _actions(parser: argparse.ArgumentParser) -> dict:
    return {a.dest: a for a in parser._actions}


def test_every_runner_has_the_same_shared_flags():
    acts = {name: _actions(build()) for name, build in PARSERS.items()}
    for dest in SHARED:
        a, b = acts["walkforward"][dest], acts["sweep"][dest]
        assert a.option_strings == b.option_strings, dest
        assert a.default == b.default, dest
        assert type(a) is type(b), dest
        if dest != "impact" and dest != "participation" and dest != "seed":   # their help says where / what
            assert a.help == b.help, dest


OFF = ["--sl-atr", "0", "--tp-atr", "0", "--trail-atr", "0", "--max-bars", "0", "--max-daily-loss", "0",
       "--max-trades-per-day", "0", "--impact", "0", "--flat-bars-before-close", "0"]


@pytest.mark.parametrize("runner", list(PARSERS))
def test_zero_is_off_in_every_runner(runner):
    args = PARSERS[runner]().parse_args(OFF)
    stops = stops_of(args)
    assert (stops.sl_atr, stops.tp_atr, stops.trail_atr, stops.max_bars) == (None, None, None, None)
    assert not stops.needs_atr
    limits = limits_of(args)
    assert limits.max_daily_loss is None and limits.max_trades_per_day is None
    assert execution_of(args) == {}
    assert strategy_of(args).flat_bars_before_close == 0
    # and the defaults are the same "off"
    defaults = PARSERS[runner]().parse_args([])
    assert stops_of(defaults) == stops and limits_of(defaults) == limits and execution_of(defaults) == {}


@pytest.mark.parametrize("runner", list(PARSERS))
def test_values_reach_the_rules(runner):
    args = PARSERS[runner]().parse_args(["--sl-atr", "1.5", "--max-bars", "30", "--max-daily-loss", "500",
                                         "--max-trades-per-day", "4", "--long-only", "--impact", "0.1",
                                         "--participation", "0.2", "--atr-window", "20"])
    stops = stops_of(args)
    assert (stops.sl_atr, stops.max_bars, stops.atr_window) == (1.5, 30, 20)
    assert (limits_of(args).max_daily_loss, limits_of(args).max_trades_per_day) == (500.0, 4)
    assert strategy_of(args).allow_short is False
    kw = execution_of(args)
    assert set(kw) == {"impact", "participation"}


@pytest.mark.parametrize("runner", list(PARSERS))
@pytest.mark.parametrize("flag, value", [("--sl-atr", "-1"), ("--max-bars", "-2"), ("--max-daily-loss", "-5"),
                                         ("--seed", "-1"), ("--flat-bars-before-close", "-1")])
def test_negative_values_are_refused_the_same_way(runner, flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        PARSERS[runner]().parse_args([flag, value])
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err
