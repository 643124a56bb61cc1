"""Power and false discoveries of the default walk-forward: is a real edge found, and no edge called so?

Runs ``python -m runners.walkforward`` at its defaults (only ``--data``, ``--out``,
a fresh trial ledger per run, ``--quiet`` and no latency probe) on synthetic
markets made from the bundled WDO sample (``ml.data.no_edge_bars`` /
``ml.data.planted_edge_bars``, one seed per run), and prints:

- the false-discovery rate: the share of no-edge runs whose verdict is not
  "no evidence of an edge" (target <= 5%);
- the true-discovery rate per edge kind and strength: the share of planted runs
  whose verdict is not "no evidence of an edge" (target >= 80% at an edge a
  single raw feature shows, directional AUC about 0.53), and the share called
  "evidence of an edge after costs";
- for each strength, the in-sample next-bar AUC of the planted signal and the
  session Sharpe ratio after the default costs of the oracle that trades it
  (the planted rule itself, no model): what the edge is worth;
- the time per run (seconds of one walk-forward, as the runner measured it),
  and the ratio of the runs' total to the wall time (the parallel speed-up).

Runs go in parallel through joblib (``--n-jobs``); each run is seeded, so the
table is the same for the same arguments.

    python -m benchmarks.honesty [--seeds 10] [--null-seeds 20] [--strengths 0.53,0.55,0.6] \
        [--kinds momentum,mean_reversion,order_flow] [--n-jobs 2] [--data FILE] [--csv FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from engines.verdict import VERDICTS


def _bars(data):
    from ml.data import continuous_contract, load_bars, sample_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = load_bars(data or sample_path("wdo"))
        if bars["symbol"].nunique() > 1:
            bars = continuous_contract(bars)
    return bars


def _market(bars, kind, hit_rate, seed):
    from ml.data import no_edge_bars, planted_edge_bars

    if kind == "none":
        return no_edge_bars(bars, seed=seed)
    return planted_edge_bars(bars, kind, hit_rate=hit_rate, seed=seed)


def _planted_signal(bars, kind, lookback=5) -> pd.Series:
    """The sign the planted rule gives the next bar, known after this bar's close."""
    if kind == "order_flow":
        return np.sign(bars["buy_volume"] - bars["sell_volume"])
    r = np.log(bars["close"]).diff()
    s = np.sign(r.rolling(lookback).sum())
    return -s if kind == "mean_reversion" else s


def oracle(bars, kind) -> dict:
    """The planted rule's next-bar AUC, and the rule traded (position = its sign, held while the
    sign holds) after the walk-forward runner's default costs and size."""
    from engines.metrics import daily_returns
    from engines.simulate import Sizing, simulate
    from ml.data import bars_calendar, bars_instrument
    from ml.training import directional_auc
    from risk.sizing import ContractSpec
    from runners._pipeline import contracts_of, costs_of
    from runners.walkforward import build_parser

    defaults = build_parser().parse_args([])
    inst = bars_instrument(bars)

    signal = _planted_signal(bars, kind).fillna(0.0)
    nxt = np.log(bars["close"]).diff().shift(-1)
    ok = nxt.notna() & (nxt != 0) & (signal != 0)
    auc = float(directional_auc(signal[ok].to_frame("s"), (nxt[ok] > 0).to_numpy()).iloc[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = simulate(bars, signal.astype(np.int8), contract=ContractSpec.from_instrument(inst),
                       costs=costs_of(defaults, inst), sizing=Sizing(contracts=contracts_of(defaults, inst)))
    cal = bars_calendar(bars)
    daily = daily_returns(res.returns, cal)
    sd = daily.std(ddof=1)
    return {"auc": auc, "sharpe_per_session": float(daily.mean() / sd) if sd > 0 else float("nan"),
            "sharpe": float(res.metrics["sharpe"]), "n_trades": int(res.metrics["n_trades"])}


def case_seed(kind: str, hit_rate: float, i: int) -> int:
    """Seed of the ``i``-th market of a case, from the case itself (not its place in the list), so a
    run with other ``--strengths`` or ``--kinds`` draws the same markets for the cases it shares."""
    k = ("none", "momentum", "mean_reversion", "order_flow").index(kind)
    return 1_000_000 * k + 1_000 * int(round(1000 * hit_rate)) + i + 1


def one_run(bars, kind, hit_rate, seed, extra) -> dict:
    """The default walk-forward on one synthetic market; its verdict and numbers."""
    from runners.walkforward import main

    market = _market(bars, kind, hit_rate, seed)
    with tempfile.TemporaryDirectory(prefix="honesty-") as tmp:
        tmp = Path(tmp)
        frame = market.reset_index()
        frame.attrs = {}
        frame = frame.rename(columns={frame.columns[0]: "timestamp"})
        frame.to_parquet(tmp / "bars.parquet", index=False)
        t0 = time.perf_counter()
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            main(["--data", str(tmp / "bars.parquet"), "--out", str(tmp / "run"), "--ledger",
                  str(tmp / "ledger.jsonl"), "--quiet", "--latency-decisions", "0", *extra])
        seconds = time.perf_counter() - t0
        m = json.loads((tmp / "run" / "metrics.json").read_text())
    v = m["verdict"]
    return {"kind": kind, "hit_rate": hit_rate, "seed": seed, "verdict": v["verdict"],
            "auc": m["traded_auc"]["auc"], "auc_low": m["traded_auc"]["ci_low"],
            "dsr": m["deflated_sharpe"], "net_pnl": m["net_pnl"], "frictionless_pnl": m["frictionless"]["pnl"],
            "frictionless_psr": m["frictionless"].get("psr"), "why": v["why"],
            "beats_baselines": m["baselines"]["model_beats_baselines"], "seconds": seconds}


def main(argv=None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.honesty", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="synthetic markets per planted case (default 10)")
    p.add_argument("--null-seeds", type=int, default=20, help="no-edge markets (default 20)")
    p.add_argument("--strengths", default="0.53,0.55,0.6", help="planted hit rates (default 0.53,0.55,0.6)")
    p.add_argument("--kinds", default="momentum,mean_reversion,order_flow")
    p.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--data", help="real bars to build the markets from (default: the bundled WDO sample)")
    p.add_argument("--extra", default="", help="more walkforward flags, e.g. '--model catboost'")
    p.add_argument("--csv", help="write every run's verdict and numbers to this CSV file")
    args = p.parse_args(argv)
    bars = _bars(args.data)
    strengths = [float(x) for x in args.strengths.split(",") if x]
    kinds = [k for k in args.kinds.split(",") if k]
    if "order_flow" in kinds and not {"buy_volume", "sell_volume"} <= set(bars.columns):
        kinds.remove("order_flow")
        print("order_flow left out: these bars have no buy_volume / sell_volume (the bundled WDO sample has "
              "none); pass --data with bars that do")
    cases = [("none", 0.5)] + [(k, h) for k in kinds for h in strengths]
    extra = args.extra.split()
    seeds = {case: args.null_seeds if case[0] == "none" else args.seeds for case in cases}
    print(f"honesty study: {len(bars):,} bars of {bars['symbol'].iloc[0]} "
          f"({bars.index[0].date()} to {bars.index[-1].date()}), {args.null_seeds} no-edge and {args.seeds} "
          f"planted market(s) per case, {sum(seeds.values())} walk-forward runs at the defaults{' + ' + args.extra if extra else ''}, "
          f"{args.n_jobs} job(s); {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s)")
    for kind, h in cases[1:]:
        o = oracle(_market(bars, kind, h, 1), kind)
        print(f"  planted {kind} at hit rate {h:.2f}: the planted rule's next-bar AUC {o['auc']:.3f}; the rule "
              f"itself traded after the default costs: Sharpe {o['sharpe']:.2f} (annualised), "
              f"{o['n_trades']:,} trades")
    t0 = time.perf_counter()
    rows = Parallel(n_jobs=args.n_jobs)(delayed(one_run)(bars, kind, h, case_seed(kind, h, s), extra)
                                        for kind, h in cases for s in range(seeds[kind, h]))
    wall = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    df["discovery"] = df["verdict"] != VERDICTS[0]
    df["after_costs"] = df["verdict"] == VERDICTS[2]
    if args.csv:
        df.to_csv(args.csv, index=False)
    summary = df.groupby(["kind", "hit_rate"], sort=False).agg(
        runs=("seed", "size"), discovery_rate=("discovery", "mean"), after_costs_rate=("after_costs", "mean"),
        mean_traded_auc=("auc", "mean"), beats_baselines=("beats_baselines", "mean"),
        seconds_per_run=("seconds", "mean"))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(summary.round(3).to_string())
    fdr = float(df.loc[df["kind"] == "none", "discovery"].mean())
    print(f"false-discovery rate (no edge): {100 * fdr:.0f}% (target <= 5%)")
    for h in strengths:
        planted = df[(df["kind"] != "none") & (df["hit_rate"] == h)]
        print(f"true-discovery rate at hit rate {h:.2f}: {100 * planted['discovery'].mean():.0f}% "
              f"(after costs: {100 * planted['after_costs'].mean():.0f}%; target >= 80%)")
    print(f"time per run: {df['seconds'].mean():.1f} s mean, {df['seconds'].max():.1f} s max; wall {wall:.0f} s "
          f"for {len(df)} runs, {df['seconds'].sum() / wall:.2f}x the runs' total in parallel")
    return df


if __name__ == "__main__":
    main()
