"""The whole pipeline, walking forward: data -> features -> labels -> models -> strategy -> backtest -> reports.

    python -m runners.walkforward                              # the bundled WDO sample, CatBoost
    python -m runners.walkforward --data bars.csv.gz --symbol WDO --model random_forest \\
        --train-sessions 20 --test-sessions 5 --engine backtrader --out runs/rf
    python -m runners.walkforward --config run.toml --seed 7   # flags override the file

Per fold (walk-forward in sessions): features selected on the training rows
only, labels whose end time reaches the test window purged, optional Optuna
tuning on an inner purged K-fold, a fit weighted by label uniqueness, and
probabilities for every test bar.  The stitched out-of-sample probabilities
drive :class:`strategies.ProbabilityThresholdStrategy` with the risk rules,
backtested with costs in the chosen engine on the out-of-sample bars only.

Writes to ``--out`` (default ``runs/walkforward-<time>``):

- ``metrics.json``: backtest metrics (sharpe, sortino, calmar, max_drawdown,
  win_rate, profit_factor, recovery_factor, total_return, n_trades, exposure,
  deflated_sharpe, ...), model metrics overall and per fold, importance
  stability, decision latency and the KPI scorecard;
- ``predictions.parquet``: timestamp, fold, class probabilities, ``p_up``,
  ``probability`` (what the strategy trades on), label, ret, t1;
- ``trades.csv``, ``equity.csv``, ``tearsheet.html`` (quantstats, session
  returns), ``report.html`` (scorecard and ML diagnostics);
- ``run.json`` (settings, seed, data hash, library and code versions,
  timings), ``config.toml`` (``--config`` reproduces the run), ``run.log``;
- ``checkpoints/``: finished folds; rerunning with the same ``--out`` resumes
  after the last finished fold.

The deflated Sharpe ratio counts every trial run on the same data (by content
fingerprint, whatever the folder) in the user's trial ledger
(``--ledger``, ``$DAYTRADE_ML_LEDGER``, default ``~/.daytrade-ml/trials.jsonl``):
walk-forward configurations, their Optuna trials and sweep combinations, or
``--n-trials`` when larger.  The more you compare, the higher the bar.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from engines.metrics import daily_returns
from engines.overfit import deflated_sharpe_ratio
from engines.simulate import simulate
from ml.data import bar_minutes_of, bars_calendar
from ml.exceptions import ParameterError
from ml.features import FEATURE_GROUPS
from ml.registry import TrialLedger, data_fingerprint
from ml.training import WalkForwardConfig, train_walkforward
from risk.rules import Sizing
from runners._cli import (
    OneLineParser,
    atomic_output,
    atomic_write_json,
    atomic_write_text,
    default_out,
    prepare_out,
    run_cli,
)
from runners._config import KeyValue, comma_list, parse_args_with_config, write_toml
from runners._pipeline import (
    add_cost_flags,
    add_data_flags,
    add_execution_flags,
    add_seed_flag,
    add_sizing_flags,
    add_strategy_flags,
    assumptions,
    code_version,
    contract_of,
    contracts_of,
    costs_of,
    data_options,
    execution_of,
    library_versions,
    limits_of,
    load_instrument,
    log_assumptions,
    n_jobs,
    number,
    positive_int,
    signal_probability,
    sizing_of,
    stops_of,
    strategy_of,
    whole,
)
from runners._report import (
    DEFAULT_TARGETS,
    account_notes,
    baselines_line,
    calibration_table,
    check_targets,
    instrument_facts,
    render_report,
    scorecard,
    verdict_line,
)

MODELS = ("catboost", "logistic", "random_forest", "svm", "mlp", "lstm", "transformer", "ensemble", "blend")
LABELS = ("triple_barrier", "fixed_horizon")
ENGINES = ("numba", "vectorbt", "backtrader")
#: Settings that do not change results (left out of the trial key).
_NOT_RESULTS = ("out", "quiet", "n_jobs", "config", "n_trials", "targets", "latency_decisions", "data", "storage",
                "ledger", "permutations", "search", "register", "registry")
#: Flags that :class:`ml.training.WalkForwardConfig` holds (keyed through it, with label settings resolved).
_WF_FLAGS = ("model", "model_params", "ensemble_models", "label", "horizon", "pt", "sl", "threshold",
             "train_sessions", "test_sessions", "step_sessions", "anchored", "n_features", "selector",
             "feature_groups", "tune_trials", "tune_scoring", "seed", "calendar")


#: ``--search``: the choices that decide a walk-forward's power, tried as counted trials.  Each
#: variant sets these flags; every other flag stays as given.
SEARCH_MENU = tuple({"label": label, "horizon": horizon, "n_features": n}
                    for label, horizon in (("triple_barrier", 5), ("triple_barrier", 30), ("fixed_horizon", 1))
                    for n in (0, 20))


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m runners.walkforward",
        description="Train and test a model walking forward through the sessions, trade its out-of-sample "
                    "probabilities with costs, and write metrics, trades, equity and HTML reports. With no "
                    "arguments it runs on the bundled WDO sample.")
    p.add_argument("--config", help="TOML file with any of these settings (flags override it)")
    add_data_flags(p)
    g = p.add_argument_group("model and labels")
    g.add_argument("--model", default="logistic", choices=MODELS,
                   help="classifier (default logistic: an L2 logistic regression, the regularised default the "
                        "honesty study measured; see python -m benchmarks.honesty); ensemble: stacking of "
                        "--ensemble-models; blend: --ensemble-models blended with weights learned per volatility "
                        "regime (ml.ensemble.RegimeBlendEnsemble)")
    g.add_argument("--model-param", dest="model_params", action=KeyValue,
                   help="model argument, repeatable: --model-param iterations=200 "
                        "(ensemble: [model_params.<name>] tables in the config file)")
    g.add_argument("--ensemble-models", type=comma_list, default=["catboost", "random_forest"],
                   help="base models of --model ensemble or blend, comma-separated (default catboost,random_forest)")
    g.add_argument("--label", default="triple_barrier", choices=LABELS)
    g.add_argument("--horizon", type=positive_int("--horizon"), default=5,
                   help="bars to the vertical barrier / fixed horizon (default 5)")
    g.add_argument("--pt", type=number("--pt", 0, strict_lo=True), default=1.0,
                   help="triple_barrier: profit barrier in volatility units (default 1)")
    g.add_argument("--sl", type=number("--sl", 0, strict_lo=True), default=1.0,
                   help="triple_barrier: stop barrier in volatility units (default 1)")
    g.add_argument("--threshold", type=number("--threshold", 0), default=0.0,
                   help="fixed_horizon: round-trip cost as a log return (default 0)")
    g = p.add_argument_group("walk-forward")
    g.add_argument("--train-sessions", type=positive_int("--train-sessions"), default=20)
    g.add_argument("--test-sessions", type=positive_int("--test-sessions"), default=5)
    g.add_argument("--step-sessions", type=positive_int("--step-sessions"),
                   help="sessions between folds (default --test-sessions)")
    g.add_argument("--anchored", action=argparse.BooleanOptionalAction, default=False,
                   help="expanding instead of rolling training window (default: rolling)")
    g.add_argument("--n-features", type=whole("--n-features", 0), default=0,
                   help="features selected per fold on its training rows (default 0: all, the logistic "
                        "model's penalty shrinks the rest; a forest selection of 20 lost the planted edge's "
                        "feature in most folds)")
    g.add_argument("--selector", default="mdi", choices=("mdi", "permutation", "mutual_info"))
    g.add_argument("--feature-groups", type=comma_list,
                   help=f"comma-separated feature groups (default all: {','.join(FEATURE_GROUPS)})")
    g.add_argument("--tune-trials", type=whole("--tune-trials", 0), default=0,
                   help="Optuna trials per fold on an inner purged K-fold (default 0: no tuning)")
    g.add_argument("--tune-scoring", default="log_loss", choices=("log_loss", "sharpe", "accuracy"))
    g.add_argument("--storage", help="Optuna storage URL shared by workers, e.g. sqlite:///tune.db")
    add_strategy_flags(p)
    add_cost_flags(p)
    add_sizing_flags(p)
    g = p.add_argument_group("engine")
    g.add_argument("--engine", default="numba", choices=ENGINES,
                   help="numba: the simulator (every option), its fills cross-checked as a vectorbt Portfolio; "
                        "vectorbt: vectorbt's own order execution, one Portfolio row per bar (market orders "
                        "and the session backstop only: no stops, limits or sizing other than fixed); "
                        "backtrader: event-driven, with --participation / --impact (default numba)")
    add_execution_flags(p, where="with --engine backtrader")
    g = p.add_argument_group("run")
    g.add_argument("--n-trials", type=positive_int("--n-trials"),
                   help="trials compared so far, for the deflated Sharpe ratio, when more than the ledger "
                        "counts (default: those recorded in the trial ledger for these data)")
    g.add_argument("--ledger", metavar="FILE",
                   help="trial ledger (default $DAYTRADE_ML_LEDGER, else ~/.daytrade-ml/trials.jsonl)")
    g.add_argument("--target", dest="targets", action=KeyValue,
                   help="KPI target, repeatable: --target sharpe=1.5 (defaults: " +
                        ", ".join(f"{k}={v:g}" for k, v in DEFAULT_TARGETS.items()) + ")")
    g.add_argument("--latency-decisions", type=whole("--latency-decisions", 0), default=1000,
                   help="consecutive live decisions timed for the latency figure, on the last bars (0: skip; "
                        "default 1000)")
    g.add_argument("--search", action=argparse.BooleanOptionalAction, default=False,
                   help="counted search: walk forward with each of the %d variants of SEARCH_MENU (label "
                        "triple_barrier 5 or 30 bars or fixed_horizon 1 bar, x all or 20 features), every one a "
                        "trial in the ledger, and report the one with the best net session Sharpe ratio; the "
                        "deflated Sharpe ratio counts them all (default off)" % len(SEARCH_MENU))
    g.add_argument("--permutations", type=whole("--permutations", 0), default=0,
                   help="permutation test: re-run the whole walk-forward on N within-session permutations of "
                        "the bars (joblib, --n-jobs; checkpointed) for p-values of the Sharpe ratio and the "
                        "traded AUC (default 0: not run)")
    g.add_argument("--cv", default="walkforward", choices=("walkforward", "cpcv"),
                   help="walkforward (default): the walk-forward backtest only. cpcv: also combinatorial purged "
                        "cross-validation (ml.training.cpcv_paths): the model trained on C(N, k) splits, their "
                        "test probabilities stitched into C(N-1, k-1) paths over all bars, each path traded "
                        "with the same strategy and costs: a distribution of session Sharpe ratios in the report")
    g.add_argument("--cpcv-groups", type=positive_int("--cpcv-groups"), default=6,
                   help="N, the groups of --cv cpcv (default 6)")
    g.add_argument("--cpcv-test-groups", type=positive_int("--cpcv-test-groups"), default=2,
                   help="k, the test groups per split of --cv cpcv (default 2: 15 splits, 5 paths)")
    add_seed_flag(g, "the model, the splits' bootstraps and the permutations")
    g.add_argument("--n-jobs", type=n_jobs, default=1, help="folds trained in parallel (joblib; -1: all cores)")
    g.add_argument("--out", help="output folder (default runs/walkforward-<time>); rerun to resume")
    g.add_argument("--quiet", action="store_true", help="only errors on the terminal (run.log keeps all)")
    g.add_argument("--register", metavar="NAME",
                   help="after the walk-forward, fit the model once more on the last --train-sessions sessions "
                        "(the same selection and settings) and register it as the next version of NAME: a model "
                        "bundle with its features, strategy, risk rules, costs, contract and calendar, which "
                        "runners.paper and ml.registry.ModelRegistry.load_bundle('NAME@VERSION') load")
    g.add_argument("--registry", metavar="DIR",
                   help="model registry folder of --register (default $DAYTRADE_ML_REGISTRY, else "
                        "~/.daytrade-ml/models)")
    return p


def _check_args(args) -> None:
    if args.register is not None:
        from ml.registry import ModelRegistry

        ModelRegistry._check_name(args.register)   # a bad name fails now, not after the training
        if args.sizing == "vol-target":
            raise ParameterError("--register does not support --sizing vol-target yet (the bundle would need the "
                                 "GARCH model of its own); use --sizing fixed or kelly")
    if args.engine != "backtrader":
        for flag in ("participation", "impact"):
            if getattr(args, flag):
                raise ParameterError(f"--{flag} needs --engine backtrader (the vectorized simulator has no "
                                     "volume model)")
    if args.engine == "vectorbt":
        from engines.engine import Execution, Rules, VectorbtEngine

        missing = VectorbtEngine.unsupported(Execution(), Rules(stops=stops_of(args), limits=limits_of(args)))
        if missing:
            raise ParameterError(f"--engine vectorbt cannot execute {', '.join(missing)} (vectorbt fills market "
                                 "orders at the open and the session backstop only); use --engine numba or "
                                 "--engine backtrader")
    if args.cv == "cpcv" and not 1 <= args.cpcv_test_groups < args.cpcv_groups:
        raise ParameterError(f"--cpcv-test-groups must be in [1, --cpcv-groups - 1] = [1, {args.cpcv_groups - 1}], "
                             f"got {args.cpcv_test_groups}")
    if args.sizing != "fixed":
        clash = [f for f, on in (("--permutations", args.permutations), ("--search", args.search),
                                 ("--engine vectorbt", args.engine == "vectorbt"), ("--cv cpcv", args.cv == "cpcv"))
                 if on]
        if clash:
            need = "a GARCH forecast" if args.sizing == "vol-target" else "Kelly sizes from their own probabilities"
            raise ParameterError(f"--sizing {args.sizing} does not combine with {', '.join(clash)} yet (their runs "
                                 f"would need {need}); use --sizing fixed with them")
    check_targets(args.targets or {})


def _config(args) -> WalkForwardConfig:
    label_params = ({"max_holding": args.horizon, "pt": args.pt, "sl": args.sl}
                    if args.label == "triple_barrier" else {"horizon": args.horizon, "threshold": args.threshold})
    cfg = WalkForwardConfig(
        model=args.model, model_params=dict(args.model_params or {}),
        ensemble_models=tuple(args.ensemble_models), label=args.label, label_params=label_params,
        train_sessions=args.train_sessions, test_sessions=args.test_sessions, step_sessions=args.step_sessions,
        anchored=args.anchored, n_features=args.n_features, selector=args.selector,
        feature_groups=tuple(args.feature_groups) if args.feature_groups else None,
        tune_trials=args.tune_trials, tune_scoring=args.tune_scoring, storage=args.storage,
        study_name="walkforward", seed=args.seed, n_jobs=args.n_jobs, calendar=args.calendar)
    cfg.validate()
    return cfg


def _settings(args) -> dict:
    """The resolved settings, JSON / TOML friendly."""
    out = {}
    for k, v in sorted(vars(args).items()):
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def _training_key(cfg: WalkForwardConfig, data_hash: str) -> str:
    """Hash of what decides the out-of-sample probabilities: the data and the effective
    walk-forward settings (not workers, storage or study name)."""
    wf = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("n_jobs", "storage", "study_name")}
    if cfg.model != "ensemble":
        wf.pop("ensemble_models")
    if not cfg.tune_trials:
        wf.pop("tune_scoring"), wf.pop("tune_splits")
    return hashlib.sha256(json.dumps([wf, data_hash], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _trial_key(args, training_key: str) -> str:
    """Hash of what decides the results: the training key plus strategy, risk, costs and engine
    (not paths, storage, workers or reporting)."""
    rest = {k: v for k, v in vars(args).items() if k not in _NOT_RESULTS and k not in _WF_FLAGS}
    return hashlib.sha256(json.dumps([training_key, rest], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _deflated_sharpe(daily: pd.Series, trials: list[dict], n_trials_flag, blown: bool = False,
                     counted: dict | None = None) -> dict:
    """DSR of this run's session returns over the trials counted on the same data: the
    walk-forward configurations (their Sharpe ratios give the trials' variance), their Optuna
    trials and the sweep combinations (which bring the variance of their own Sharpe ratios)."""
    sharpes = [r["sharpe_per_session"] for r in trials
               if r.get("kind", "walkforward") == "walkforward" and r.get("sharpe_per_session") is not None]
    n_counted = counted["n_trials"] if counted else len(trials)
    n_trials = max(n_counted, n_trials_flag or 0, 1)
    out = {"n_trials": n_trials, "trials_recorded": n_counted, "periods": "sessions",
           **({"counted": counted} if counted else {})}
    if blown:
        return {**out, "dsr": None, "note": "the account was blown: no Sharpe ratio to deflate"}
    variances = [r["sharpe_variance"] for r in trials if r.get("sharpe_variance") is not None]
    if n_trials > 1 and len(sharpes) < 2 and variances:
        try:
            res = deflated_sharpe_ratio(daily.to_numpy(), n_trials=n_trials, sr_variance=float(max(variances)),
                                        per_period_checked=True)
        except ParameterError as exc:
            return {**out, "dsr": None, "note": str(exc)}
        out.update({k: v for k, v in res.to_dict().items() if k != "n_trials"}, dsr=res.dsr,
                   variance_from="the Sharpe ratios of a sweep on these data")
        return out
    try:
        if n_trials == 1:
            # per-session Sharpe ratios computed here: the "looks annualised" guard does not apply
            res = deflated_sharpe_ratio(daily.to_numpy(), n_trials=1, per_period_checked=True)
        elif len(sharpes) >= 2:
            res = deflated_sharpe_ratio(daily.to_numpy(), n_trials=n_trials, trial_sharpes=sharpes,
                                        per_period_checked=True)
        else:
            out.update(dsr=None, note="--n-trials > 1 but fewer than 2 recorded trial Sharpe ratios: the "
                                      "variance of the trials is unknown")
            return out
    except ParameterError as exc:
        out.update(dsr=None, note=str(exc))
        return out
    out.update({k: v for k, v in res.to_dict().items() if k != "n_trials"}, dsr=res.dsr)
    return out


def decision_latency(bars, fold, cfg: WalkForwardConfig, calendar, strategy, n: int) -> dict:
    """Time ``n`` consecutive live decisions of the last fold's model (engines.live.time_decisions).

    The same measurement as ``benchmarks/latency.py`` and the paper runner: each bar's arrival to its
    decision through the live decider (streaming features, the model on the new row, the strategy's
    rule, the safety checks), after a warm-up on the bars before them.
    """
    from engines.live import time_decisions
    from ml.data import bar_minutes_of
    from ml.registry import ModelBundle

    model = fold.model
    if model is None or n == 0:
        return {"decisions": 0, "note": "no model kept" if model is None else "skipped"}
    bundle = ModelBundle(model=model, features=list(fold.selected),
                         classes=[_fmt_class(c) for c in model.classes_], calendar=calendar.name,
                         bar_minutes=float(bar_minutes_of(bars)), strategy=strategy.get_params(), sizing={},
                         stops={}, limits={}, costs={}, contract={}, instrument="")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return time_decisions(bundle, bars, n)


def _fmt_class(c) -> str:
    return str(int(c)) if float(c).is_integer() else str(c)


def _trading(args):
    """Strategy, stops, sizing and limits from the flags, checked before any training."""
    strategy = strategy_of(args)
    stops = stops_of(args)
    sizing = Sizing(contracts=args.contracts if args.contracts is not None else 1.0)
    limits = limits_of(args)
    for obj in (strategy, stops, sizing, limits):
        obj.kernel_args()
    if getattr(args, "sizing", "fixed") == "kelly":   # its payoff ratio and cap, before any training
        sizing_of(args, 1.0, 1.0).kelly_args(stops)
    return strategy, stops, sizing, limits


def _backtest(args, oos, sides, contract, costs, stops, sizing, limits, log, sigma=None, proba=None):
    common = dict(contract=contract, sizing=sizing, stops=stops, costs=costs, initial_equity=args.initial_equity,
                  calendar=args.calendar, sigma=sigma, proba=proba)
    check = {}
    if args.engine == "backtrader":
        from engines.bt import run_backtrader

        res = run_backtrader(oos, sides, limits=limits, **common, **execution_of(args))
    elif args.engine == "vectorbt":
        from engines.engine import Execution, Rules, VectorbtEngine

        res = VectorbtEngine().run(oos, sides, Execution(contract=contract, costs=costs,
                                                         initial_equity=args.initial_equity, calendar=args.calendar),
                                   Rules(sizing=sizing, stops=stops, limits=limits))
        pf = res.meta.pop("portfolio")
        check = {"vectorbt_cash_buffer": res.meta["cash_buffer"],
                 "vectorbt_stats": {k: (float(v) if isinstance(v, (int, float, np.floating)) else str(v))
                                    for k, v in pf.stats(settings=res.meta["stats_settings"]).items()}}
        log.info("vectorbt executed the run (Portfolio.from_order_func, one row per bar)")
    else:
        res = simulate(oos, sides, limits=limits, **common)
        from engines.vbt import to_vectorbt_portfolio

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vbt_eq = to_vectorbt_portfolio(oos, res).equity()
        diff = float(np.max(np.abs(vbt_eq.to_numpy() - res.equity.to_numpy())) / args.initial_equity)
        check = {"vectorbt_max_equity_diff_rel": diff}
        log.info("vectorbt Portfolio rebuilt from the fills: max equity difference %.2e of initial equity", diff)
    return res, check


def _session_sharpe(res, cal) -> tuple:
    """``(session returns, Sharpe ratio per session)`` of an engine result; the ratio is None
    for fewer than two sessions, flat returns, or a blown account (returns of an account at or
    near zero equity are undefined, as the ratios)."""
    daily = daily_returns(res.returns, cal)
    sd = daily.std(ddof=1) if len(daily) > 1 else 0.0
    ok = sd > 0 and not res.metrics.get("account_blown")
    return daily, float(daily.mean() / sd) if ok else None


def _oos_stats(oos, sides, preds, *, contract, costs, stops, sizing, limits, initial_equity, calendar, cal,
               sigma=None, proba=None) -> dict:
    """The statistics the permutation test compares: the simulator's session Sharpe ratio of the
    traded sides, with costs, and the traded probability's AUC."""
    res = simulate(oos, sides, contract=contract, costs=costs, stops=stops, sizing=sizing, limits=limits,
                   initial_equity=initial_equity, calendar=calendar, sigma=sigma, proba=proba)
    sharpe = _session_sharpe(res, cal)[1]
    auc = traded_auc_of(preds["probability"], preds, cal)
    return {"sharpe_per_session": float("nan") if sharpe is None else sharpe, "auc": auc}


def _pipeline_stats(bars, cfgs, strategy, backtest: dict, cal) -> dict:
    """The whole pipeline on ``bars`` (a permutation): walk-forward, strategy, backtest with costs,
    for each configuration of ``cfgs``; the one with the best session Sharpe ratio (a best-of null
    when ``--search`` chose among several)."""
    best = None
    for cfg in cfgs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wf = train_walkforward(bars, cfg.replace(n_jobs=1))
        preds = wf.predictions.copy()
        preds["probability"] = signal_probability(preds)
        oos = bars.loc[bars.index.isin(preds.index)]
        sides = strategy.sides(preds["probability"].reindex(oos.index), oos, calendar=backtest["calendar"])
        stats = _oos_stats(oos, sides, preds, cal=cal, **backtest)
        if best is None or _above(stats["sharpe_per_session"], best["sharpe_per_session"]):
            best = stats
    return best


def _permutations(args, bars, cfgs, strategy, backtest, cal, observed, out, log) -> dict:
    """``--permutations N``: the null of the session Sharpe and the traded AUC, and their p-values;
    with several configurations (``--search``), each permutation runs them all and keeps the best."""
    import functools

    from engines.verdict import permutation_p_value, permutation_test

    t0 = time.perf_counter()
    log.info("permutation test: the whole pipeline%s on %d within-session permutation(s) of the bars "
             "(%d job(s); checkpoints in %s)", f" (all {len(cfgs)} search variants)" if len(cfgs) > 1 else "",
             args.permutations, args.n_jobs, out / "permutations")
    res = permutation_test(bars, functools.partial(_pipeline_stats, cfgs=[c.replace(storage=None) for c in cfgs],
                                                   strategy=strategy, backtest=backtest, cal=cal),
                           args.permutations, seed=args.seed, n_jobs=args.n_jobs, checkpoint=out / "permutations")
    p = {k: permutation_p_value(observed[k], res["null"].get(k, [])) for k in observed}
    seconds = time.perf_counter() - t0
    log.info("permutation p-values over %d permutation(s) (%d reused): Sharpe %.3f, AUC %.3f (%.0f s)",
             res["n"], res["reused"], p["sharpe_per_session"], p["auc"], seconds)
    statistic = "session Sharpe ratio of the simulator with costs, and the traded AUC"
    if len(cfgs) > 1:
        statistic += (f"; the observed run is the best of {len(cfgs)} search variants, chosen in-sample, so each "
                      f"permutation runs all {len(cfgs)} and its null value is their best (a best-of-search null)")
    return {**res, "observed": observed, "p_value": p, "seconds": round(seconds, 1), "statistic": statistic,
            "formula": "(1 + #null >= observed) / (N + 1)"}


def _evidence(args, oos, sides, preds, contract, stops, sizing, limits, cal, instrument, res, dsr,
              p_value=None, sigma=None, proba=None) -> dict:
    """What the strategy trades, measured: the traded probability's AUC with its session-block
    interval and fold spread, the frictionless run beside the net one, the break-even cost and
    the verdict."""
    from engines.verdict import break_even_cost, closed_pnl, frictionless_run, traded_auc, verdict

    session = cal.sessions(preds.index).session
    auc = traded_auc(preds["probability"], preds["label"], session, preds["fold"], seed=args.seed)
    free, summary = frictionless_run(oos, sides, contract=contract, sizing=sizing, stops=stops,
                                     initial_equity=args.initial_equity, calendar=args.calendar, limits=limits,
                                     sigma=sigma, proba=proba)
    free_psr = _deflated_sharpe(_session_sharpe(free, cal)[0], [], 1,
                                blown=bool(free.metrics.get("account_blown"))).get("dsr")
    round_trips = summary.pop("round_trips")
    frictionless = {**summary, "psr": free_psr,
                    "basis": "the same sides in the simulator with no commission and no slippage"}
    v = verdict(dsr=dsr.get("dsr"), n_trials=dsr.get("n_trials", 1), auc=auc, net_pnl=closed_pnl(res.trades),
                gross_pnl=summary["pnl"], gross_psr=free_psr, p_value=p_value,
                blown=bool(res.metrics.get("account_blown")))
    return {"traded_auc": auc, "frictionless": frictionless,
            "break_even_cost": break_even_cost(summary["pnl"], round_trips, instrument.tick_value),
            "verdict": v}


def _cpcv(args, bars, cfg, strategy, backtest, cal, log) -> dict:
    """--cv cpcv: every CPCV path traded with the run's strategy and costs; their session Sharpe ratios."""
    from ml.training import cpcv_paths

    t0 = time.perf_counter()
    res = cpcv_paths(bars, cfg, n_groups=args.cpcv_groups, n_test_groups=args.cpcv_test_groups)
    sharpes, pnls = [], []
    for path in res.paths:
        prob = signal_probability(path)
        sides = strategy.sides(prob, bars, calendar=args.calendar)
        run = simulate(bars, sides, **backtest)
        sharpe = _session_sharpe(run, cal)[1]
        sharpes.append(float("nan") if sharpe is None else float(sharpe))
        trades = run.trades
        pnls.append(float(trades.loc[trades["closed"], "pnl"].sum()) if len(trades) else 0.0)
    s = np.asarray(sharpes, dtype=float)
    out = {"n_groups": res.n_groups, "n_test_groups": res.n_test_groups, "n_splits": res.n_splits,
           "n_paths": res.n_paths, "sharpe_per_session": sharpes, "net_pnl": pnls,
           "sharpe_median": float(np.nanmedian(s)) if np.isfinite(s).any() else None,
           "sharpe_min": float(np.nanmin(s)) if np.isfinite(s).any() else None,
           "sharpe_max": float(np.nanmax(s)) if np.isfinite(s).any() else None,
           "share_positive": float(np.mean(s > 0)), "split_auc": res.split_auc,
           "seconds": round(time.perf_counter() - t0, 2),
           "basis": "combinatorial purged CV (Lopez de Prado 2018, ch. 12): each split trains on data from both "
                    "sides of its test groups (purged, embargo 0), so a path is not a causal backtest; the spread "
                    "of the paths' Sharpe ratios shows how much the result depends on the history the model saw"}
    log.info("CPCV (N=%d, k=%d): %d splits, %d paths; session Sharpe median %.2f (min %.2f, max %.2f), %d of %d "
             "paths positive", res.n_groups, res.n_test_groups, res.n_splits, res.n_paths,
             out["sharpe_median"] or float("nan"), out["sharpe_min"] or float("nan"),
             out["sharpe_max"] or float("nan"), int(np.sum(s > 0)), res.n_paths)
    return out


def _baselines(args, oos, preds, strategy, backtest, cal, model: dict) -> dict:
    """The simple baselines beside the model (:data:`ml.training.BASELINES`): the same strategy,
    costs and engine settings trading each baseline's P(up), and whether the model beats them
    on both the traded AUC and the net session Sharpe ratio."""
    from engines.verdict import closed_pnl
    from ml.training import BASELINES

    out = {}
    for name, what in BASELINES.items():
        column = f"baseline_{name}"
        if column not in preds.columns:
            continue
        p = preds[column]
        sides = strategy.sides(p.reindex(oos.index), oos, calendar=args.calendar)
        res = simulate(oos, sides, **backtest)
        auc = traded_auc_of(p, preds, cal)
        out[name] = {"what": what, "auc": auc, "sharpe_per_session": _session_sharpe(res, cal)[1],
                     "net_pnl": closed_pnl(res.trades), "n_trades": int(res.metrics["n_trades"])}
    features = preds["baseline_feature"].groupby(preds["fold"]).first() if "baseline_feature" in preds else None
    beats = {name: beats_baseline(model, b) for name, b in out.items()}
    return {"model": model, "baselines": out, "beats": beats,
            "model_beats_baselines": bool(out) and all(beats.values()),
            "features_by_fold": {} if features is None else {int(k): str(v) for k, v in features.items()},
            "rule": "the model beats a baseline when both its traded AUC and its net session Sharpe ratio are "
                    "higher (same strategy, costs and out-of-sample bars; a baseline that never trades has a "
                    "Sharpe ratio of 0)"}


def traded_auc_of(probability, preds, cal) -> float:
    """The AUC of ``probability`` on the up / down labels of ``preds`` (no bootstrap)."""
    from engines.verdict import traded_auc

    return traded_auc(probability, preds["label"], cal.sessions(preds.index).session, n_boot=0)["auc"]


def beats_baseline(model: dict, baseline: dict) -> bool:
    """Whether the model beats a baseline: a higher traded AUC *and* a higher net session Sharpe ratio.

    A baseline that never trades stays flat: its Sharpe ratio is undefined, but a model that loses
    money does not beat staying out, so the baseline counts as 0 there.  A model with an undefined
    Sharpe ratio (no trades, blown account) beats nothing.
    """
    base_sharpe = baseline["sharpe_per_session"] if baseline.get("n_trades") else 0.0
    return bool(_above(model["auc"], baseline["auc"]) and _above(model["sharpe_per_session"], base_sharpe))


def _above(a, b) -> bool:
    return a is not None and np.isfinite(a) and (b is None or not np.isfinite(b) or a > b)


def _search(args, bars, cal, data_key, strategy, stops, sizing, limits, contract, costs, out, log):
    """``--search``: each variant of :data:`SEARCH_MENU` walked forward and backtested with costs,
    every one recorded in the trial ledger; ``(args, cfg, report)`` of the variant with the best net
    session Sharpe ratio (ties: the first in menu order)."""
    fingerprint = data_fingerprint(bars)
    ledger = TrialLedger(args.ledger)
    backtest = dict(contract=contract, costs=costs, stops=stops, sizing=sizing, limits=limits,
                    initial_equity=args.initial_equity, calendar=args.calendar)
    tried, best, configs = [], None, []
    for i, variant in enumerate(SEARCH_MENU):
        a = argparse.Namespace(**{**vars(args), **variant})
        c = _config(a)
        key = _training_key(c, data_key)
        c = c.replace(study_name=f"walkforward-{key}")
        configs.append(c)
        ckpt = out / "search" / key
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wf = train_walkforward(bars, c, checkpoint=ckpt)
        preds = wf.predictions.copy()
        preds["probability"] = signal_probability(preds)
        oos = bars.loc[bars.index.isin(preds.index)]
        sides = strategy.sides(preds["probability"].reindex(oos.index), oos, calendar=args.calendar)
        res = simulate(oos, sides, **backtest)
        daily, sharpe = _session_sharpe(res, cal)
        ledger.record(fingerprint, _trial_key(a, key), kind="walkforward",
                      n=1 + int(wf.metrics.get("tuning_trials") or 0), sharpe_per_session=sharpe,
                      n_sessions=int(len(daily)), out=out.resolve())
        row = {**variant, "sharpe_per_session": sharpe, "traded_auc": traded_auc_of(preds["probability"], preds, cal),
               "net_pnl": float(res.trades.loc[res.trades["closed"], "pnl"].sum()) if len(res.trades) else 0.0,
               "n_trades": int(res.metrics["n_trades"])}
        tried.append(row)
        log.info("search %d/%d: %s, horizon %d, %s features: net Sharpe/session %s, traded AUC %.3f",
                 i + 1, len(SEARCH_MENU), variant["label"], variant["horizon"], variant["n_features"] or "all",
                 _num(sharpe), row["traded_auc"])
        if sharpe is not None and (best is None or sharpe > best[0]):
            best = (sharpe, i, a, c, ckpt)
    if best is None:        # no variant has a Sharpe ratio (flat or blown): the first, as listed
        a = argparse.Namespace(**{**vars(args), **SEARCH_MENU[0]})
        c = _config(a)
        key = _training_key(c, data_key)
        best = (None, 0, a, c.replace(study_name=f"walkforward-{key}"), out / "search" / key)
    _, i, a, c, ckpt = best
    log.info("search: variant %d (%s, horizon %d, %s features) reported; the deflated Sharpe ratio counts all %d "
             "variants", i + 1, SEARCH_MENU[i]["label"], SEARCH_MENU[i]["horizon"],
             SEARCH_MENU[i]["n_features"] or "all", len(SEARCH_MENU))
    return a, c, {"menu": list(SEARCH_MENU), "tried": tried, "chosen": i, "checkpoint": ckpt, "configs": configs,
                  "rule": "the variant with the best net session Sharpe ratio out of sample, an in-sample choice "
                          "among the variants: each is a trial in the ledger, so the deflated Sharpe ratio "
                          "pays for the search"}


def _check_storage(url) -> None:
    """Open an Optuna storage URL now, not inside the first fold after the features are built."""
    import optuna

    try:
        optuna.storages.RDBStorage(url)
    except Exception as exc:  # noqa: BLE001 - any failure to open it is the URL's
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParameterError(f"--storage {url}: cannot open it as an Optuna storage ({first})") from None


def _calibration(preds: pd.DataFrame, up_class: float):
    """Calibration of ``p_up`` against up labels, and of the traded ``probability`` against up
    among the directional (up / down) labels; with their Brier scores."""
    lab = preds["label"]
    up = (lab == up_class).astype(float).where(lab.notna())
    table = calibration_table(preds["p_up"], up)
    brier = float(np.nanmean((preds["p_up"] - up) ** 2))
    directional = lab.notna() & (lab != 0) if up_class == 1.0 and (lab == -1).any() else lab.notna()
    up_dir = up.where(directional)
    traded = calibration_table(preds["probability"], up_dir)
    brier_traded = float(np.nanmean((preds["probability"] - up_dir) ** 2))
    return table, brier, traded, brier_traded


def main(argv=None) -> Path:
    parser = build_parser()
    args = parse_args_with_config(parser, argv)
    _check_args(args)
    targets = {**DEFAULT_TARGETS, **(args.targets or {})}
    cfg = _config(args)
    strategy, stops, sizing, limits = _trading(args)
    if args.tune_trials and args.storage:
        _check_storage(args.storage)
    t_start = time.perf_counter()
    out = Path(args.out) if args.out else default_out("walkforward")
    lock, log = prepare_out(out, args.quiet)
    try:
        return _run(args, cfg, targets, strategy, stops, limits, out, log, t_start)
    finally:
        lock.release()


def _run(args, cfg, targets, strategy, stops, limits, out, log, t_start) -> Path:
    timings = {}
    settings = _settings(args)

    bars, data_report = load_instrument(args.data, log=log, **data_options(args))
    cal = bars_calendar(bars, args.calendar)
    # before hours of training: a bad or contradicting contract fails now
    instrument, contract = contract_of(args, bars)
    costs = costs_of(args, instrument)
    sizing = Sizing(contracts=contracts_of(args, instrument))
    facts_used = assumptions(instrument, cal, costs, sizing.contracts, bars)
    log_assumptions(log, facts_used)
    # what the loader did to the file changes the bars: part of the data's identity for training
    loaded = data_report["loaded"]
    data_key = json.dumps([data_report["data_hash"], args.symbol, loaded.get("tz"), loaded.get("bar_time"),
                           args.nan, args.outside_session], default=str)
    search = None
    if args.search:
        args, cfg, search = _search(args, bars, cal, data_key, strategy, stops, sizing, limits, contract, costs,
                                    out, log)
        settings = _settings(args)
    training_key = _training_key(cfg, data_key)
    settings_key = _trial_key(args, training_key)
    # one Optuna study per training configuration and fold: other settings never meet it in a shared storage
    cfg = cfg.replace(study_name=f"walkforward-{training_key}")
    t0 = time.perf_counter()
    log.info("walk-forward: %s, %s labels (%d bars), %d training / %d test sessions, %s%s",
             args.model, args.label, args.horizon, args.train_sessions, args.test_sessions,
             f"{args.n_features} features selected per fold ({args.selector})" if args.n_features
             else "every feature (no selection: --n-features 0)",
             f", {args.tune_trials} tuning trials per fold" if args.tune_trials else "")
    checkpoint = out / "checkpoints" if search is None else search["checkpoint"]
    wf = train_walkforward(bars, cfg, keep_models=True, progress=not args.quiet, checkpoint=checkpoint)
    timings["train_s"] = round(time.perf_counter() - t0, 2)
    # seconds per fold stage, summed over the folds trained in this run (resumed ones took none)
    trained = [f for f in wf.folds if f.fold not in set(wf.resumed_folds)]
    for stage in ("select", "baselines", "tune", "fit", "predict", "importance"):
        timings[f"folds_{stage}_s"] = round(sum(f.stages.get(stage, 0.0) for f in trained), 2)
    if wf.resumed_folds:
        log.info("resumed %d finished fold(s) from %s", len(wf.resumed_folds), checkpoint)
    for k, why in wf.retrained_folds.items():
        log.info("fold %d was trained again: its checkpoint was %s", k, why)
    m = wf.metrics
    log.info("out of sample over %d folds: AUC %.3f, log loss %.3f, accuracy %.3f, importance stability %.2f",
             m["n_folds"], m["auc"], m["log_loss"], m["accuracy"], m["importance_stability"])

    preds = wf.predictions.copy()
    preds["probability"] = signal_probability(preds)
    # the tested bars only: sessions a walk-forward step skipped are not out-of-sample results
    oos = bars.loc[bars.index.isin(preds.index)]
    sides = strategy.sides(preds["probability"].reindex(oos.index), oos, calendar=args.calendar)
    size_inputs = {}   # the per-bar inputs of the sizing rule: sigma (vol-target), proba (Kelly)
    if args.sizing == "vol-target":
        from engines.metrics import periods_per_year
        from ml.training import fold_garch_sigma

        t0 = time.perf_counter()
        size_inputs["sigma"] = fold_garch_sigma(bars, wf.folds).reindex(oos.index)
        sizing = sizing_of(args, sizing.contracts, periods_per_year(oos, calendar=args.calendar))
        timings["garch_s"] = round(time.perf_counter() - t0, 2)
        facts_used["contracts_per_entry"] = "varies: --sizing vol-target"
        facts_used["sizing"] = (f"volatility target {args.target_vol:.1%}/year ({sizing.target_vol:.3g} per bar), "
                                "next-bar sigma from a GARCH(1,1) (Student t) fitted per fold on its training "
                                "window; --contracts ignored")
        log.info("sizing: %s", facts_used["sizing"])
    elif args.sizing == "kelly":
        sizing = sizing_of(args, sizing.contracts, 1.0)
        payoff, cap = sizing.kelly_args(stops)
        size_inputs["proba"] = preds["probability"].reindex(oos.index)
        facts_used["contracts_per_entry"] = "varies: --sizing kelly"
        facts_used["sizing"] = (
            f"Kelly: {sizing.fraction:g} x full Kelly of each entry's win probability (the traded probability of "
            f"an up move for a long, 1 - it for a short), payoff ratio {payoff:g} "
            f"({'--payoff-ratio' if args.payoff_ratio is not None else '--tp-atr / --sl-atr'}), at most "
            f"{cap:.0%} of equity at risk, " + ("per stop distance (--sl-atr x ATR)" if stops.sl_atr else
                                                "of notional (no --sl-atr)") + "; --contracts ignored")
        log.info("sizing: %s", facts_used["sizing"])
    t0 = time.perf_counter()
    res, check = _backtest(args, oos, sides, contract, costs, stops, sizing, limits, log, **size_inputs)
    timings["backtest_s"] = round(time.perf_counter() - t0, 2)
    daily, sharpe_session = _session_sharpe(res, cal)
    if res.metrics.get("account_blown"):
        log.warning("ACCOUNT BLOWN at %s (%s): trading stopped there; Sharpe-type ratios are undefined",
                    res.metrics.get("blown_at"), (res.meta.get("account") or {}).get("rule", "equity <= 0"))
    ledger = TrialLedger(args.ledger)
    fingerprint = data_fingerprint(bars)
    ledger.record(fingerprint, settings_key, kind="walkforward", n=1 + int(m.get("tuning_trials") or 0),
                  sharpe_per_session=sharpe_session, n_sessions=int(len(daily)), out=out.resolve())
    counted = ledger.summary(fingerprint)
    dsr = _deflated_sharpe(daily, ledger.trials(fingerprint), args.n_trials,
                           blown=bool(res.metrics.get("account_blown")), counted=counted)

    t0 = time.perf_counter()
    latency = decision_latency(bars, wf.folds[-1], cfg, cal, strategy, args.latency_decisions)
    timings["latency_s"] = round(time.perf_counter() - t0, 2)

    trades = res.trades
    closed = trades[trades["closed"]] if len(trades) else trades
    metrics = dict(res.metrics)
    metrics.update({
        "deflated_sharpe": dsr.get("dsr"),
        "sharpe_per_session": sharpe_session,
        "n_sessions": int(len(daily)),
        "decision_latency_ms": latency.get("p99_ms"),
        "gross_pnl": float(closed["gross_pnl"].sum()) if len(closed) else 0.0,
        "costs": float(closed["costs"].sum()) if len(closed) else 0.0,
        "net_pnl": float(closed["pnl"].sum()) if len(closed) else 0.0,
    })
    calib, brier, calib_traded, brier_traded = _calibration(preds, float(m["classes"][-1]))
    model_metrics = {k: m[k] for k in ("auc", "log_loss", "accuracy", "n_predictions", "n_labelled", "n_folds",
                                       "tuning_trials", "importance_stability", "selection_jaccard")}
    model_metrics.update(brier=brier, brier_traded=brier_traded)
    metrics["model"] = model_metrics
    metrics["importance_stability"] = m["importance_stability"]
    metrics["folds"] = wf.fold_metrics.reset_index().to_dict(orient="records")
    metrics["dsr"] = dsr
    metrics["latency"] = latency
    from engines.attribution import attribution, attribution_html

    attr = attribution(res.trades, oos, calendar=cal)
    metrics["attribution"] = {k: v.reset_index().to_dict(orient="records") for k, v in attr.items()}
    metrics["engine"] = {"name": args.engine, "contract": instrument.name, "costs": dataclasses.asdict(costs),
                         "periods_per_year": res.meta.get("periods_per_year"),
                         "fill_order": res.meta.get("fill_order"), **check}
    backtest = dict(contract=contract, costs=costs, stops=stops, sizing=sizing, limits=limits,
                    initial_equity=args.initial_equity, calendar=args.calendar, **size_inputs)
    perm = None
    if args.permutations:
        observed = _oos_stats(oos, sides, preds, cal=cal, **backtest)
        perm = _permutations(args, bars, [cfg] if search is None else search["configs"], strategy, backtest, cal,
                             observed, out, log)
        metrics["permutation"] = perm
        metrics["permutation_p_value"] = perm["p_value"]["sharpe_per_session"]
    honest = _evidence(args, oos, sides, preds, contract, stops, sizing, limits, cal, instrument, res, dsr,
                       p_value=None if perm is None else perm["p_value"]["sharpe_per_session"], **size_inputs)
    honest["baselines"] = _baselines(args, oos, preds, strategy, backtest, cal,
                                     {"auc": honest["traded_auc"]["auc"], "sharpe_per_session": sharpe_session,
                                      "net_pnl": metrics["net_pnl"], "n_trades": int(metrics["n_trades"])})
    metrics.update(honest)
    if args.cv == "cpcv":
        metrics["cpcv"] = _cpcv(args, bars, cfg, strategy, backtest, cal, log)
        timings["cpcv_s"] = metrics["cpcv"]["seconds"]
    if search is not None:
        metrics["search"] = {k: v for k, v in search.items() if k not in ("checkpoint", "configs")}
    score = scorecard(metrics, targets)
    metrics["kpi"] = {r["name"]: r for r in score}

    facts = {"data": ", ".join(data_report["data"]), "instrument": bars["symbol"].iloc[0],
             "out-of-sample": f"{oos.index[0]} to {oos.index[-1]} ({len(daily)} sessions, {len(oos):,} bars)",
             "model": args.model, "label": f"{args.label} (horizon {args.horizon} bars)"
             + ("" if search is None else f", chosen by --search among {len(SEARCH_MENU)} counted variants"),
             "walk-forward": f"{args.train_sessions} training / {args.test_sessions} test sessions, "
                             f"{m['n_folds']} folds", "engine": args.engine,
             **instrument_facts(instrument, cal, costs, sizing.contracts),
             "account": (f"BLOWN at {metrics['blown_at']}: trading stopped" if metrics.get("account_blown")
                         else f"not blown ({(res.meta.get('account') or {}).get('rule', 'equity <= 0')})"),
             "ambiguous exits": f"{metrics.get('ambiguous_exits', 0)} (stop assumed before take)",
             "sizing": facts_used.get("sizing", f"{sizing.contracts:g} contract(s) per entry"),
             "seed": args.seed}
    notes = [
        f"Deflated Sharpe ratio over {dsr['n_trials']} trial(s) on these data ({dsr['trials_recorded']} counted "
        f"in the trial ledger {counted['ledger']} for data fingerprint {fingerprint}: "
        + ", ".join(f"{n} {k}" for k, n in counted["by_kind"].items()) + "), on session returns.",
        f"Decision latency: p99 of {latency.get('decisions', 0)} consecutive decisions; "
        f"{latency.get('measures', '')}.",
        "The strategy trades P(up) / (P(up) + P(down)) when the labels have up and down classes, else P(up); "
        "its calibration is shown against up among the up / down labels.",
        "Backtest metrics are annualised from the session calendar; win rate and profit factor are per closed "
        "trade, net of costs.",
        *account_notes(res.metrics, res.meta),
    ]
    if "cpcv" in metrics:
        c = metrics["cpcv"]
        notes.append(
            f"CPCV (--cv cpcv, N={c['n_groups']}, k={c['n_test_groups']}): {c['n_splits']} splits stitched into "
            f"{c['n_paths']} paths over all bars, each traded with the same strategy and costs. Session Sharpe "
            "ratio per path: " + ", ".join("n/a" if not np.isfinite(v) else f"{v:.2f}" for v in
                                          c["sharpe_per_session"])
            + f" ({100 * c['share_positive']:.0f}% positive). A split trains on data from both sides of its test "
              "groups, so the paths show how much the result depends on the history the model saw; the "
              "walk-forward above is the causal backtest.")
    backtest_rows = {k: metrics[k] for k in ("sharpe", "sortino", "calmar", "max_drawdown", "total_return",
                                             "win_rate", "profit_factor", "recovery_factor", "n_trades",
                                             "exposure", "deflated_sharpe", "gross_pnl", "costs", "net_pnl",
                                             "ambiguous_exits", "account_blown")}
    page = render_report(title=f"Walk-forward report: {bars['symbol'].iloc[0]} {args.model}", facts=facts,
                         score=score, backtest=backtest_rows, model=model_metrics,
                         fold_metrics=wf.fold_metrics, calibration=calib, calibration_traded=calib_traded,
                         importance=wf.importance, selection_frequency=wf.selection_frequency,
                         stability=wf.stability, equity=res.equity, notes=notes, evidence=honest,
                         currency=instrument.currency, extra=attribution_html(attr, instrument.currency))

    # Results are written together at the end, each atomically; run.json last marks a finished run.
    (out / "run.json").unlink(missing_ok=True)
    with atomic_output(out / "predictions.parquet") as tmp:
        preds.to_parquet(tmp)
    with atomic_output(out / "trades.csv") as tmp:
        trades.to_csv(tmp, index=False)
    eq = pd.DataFrame({"equity": res.equity, "returns": res.returns, "position": res.positions, "side": sides,
                       "probability": preds["probability"].reindex(oos.index)})
    eq.index.name = "timestamp"
    with atomic_output(out / "equity.csv") as tmp:
        eq.to_csv(tmp)
    sheet = out / "tearsheet.html"
    if len(daily) >= 2:
        from engines.report import tearsheet

        with atomic_output(sheet) as tmp:
            tearsheet(res.returns, path=tmp, calendar=cal, positions=res.positions, report_sharpe=metrics["sharpe"],
                      title=f"{bars['symbol'].iloc[0]} {args.model} walk-forward (out of sample)")
    else:
        sheet.unlink(missing_ok=True)
        log.warning("the out-of-sample part spans %d session(s): no tearsheet (it needs 2)", len(daily))
    atomic_write_text(out / "report.html", page)
    registered = None
    if args.register is not None:
        registered = _register(args, bars, cfg, strategy, stops, sizing, limits, costs, contract, instrument, cal,
                               (preds, res, trades),
                               metrics, out, log)
        timings["register_s"] = registered.pop("seconds")
    atomic_write_json(out / "metrics.json", {"verdict": metrics["verdict"], **metrics})   # the verdict first
    resolved = {k: v for k, v in settings.items() if k not in ("config", "out", "quiet")}
    resolved["data"] = [str(Path(d).resolve()) for d in data_report["data"]]
    write_toml(out / "config.toml", resolved,
               header="Settings of this run: python -m runners.walkforward --config config.toml reproduces it.")
    timings["total_s"] = round(time.perf_counter() - t_start, 2)
    files = sorted({p.name for p in out.iterdir() if p.is_file() and not p.name.startswith(".")} | {"run.json"})
    atomic_write_json(out / "run.json", {
        "runner": "walkforward", "settings": settings, "seed": args.seed, "trial_key": settings_key,
        "data": data_report, "libraries": library_versions(), "code_version": code_version(),
        "resumed_folds": wf.resumed_folds, "retrained_folds": wf.retrained_folds,
        "assumptions": facts_used, "account": res.meta.get("account"), "timings": timings, "registered": registered,
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "files": files,
    })
    log.info("%s", verdict_line(honest))
    log.info("%s", baselines_line(honest["baselines"]))
    log.info("backtest (%s, out of sample, %d sessions): Sharpe %.2f, max drawdown %.2f%%, %d trades, win rate "
             "%s, profit factor %s, deflated Sharpe %s", args.engine, len(daily), metrics["sharpe"],
             100 * metrics["max_drawdown"], metrics["n_trades"], _pct(metrics["win_rate"]),
             _num(metrics["profit_factor"]), _num(metrics["deflated_sharpe"]))
    measured = [r for r in score if r["status"] != "not measured"]
    log.info("KPI targets met: %d of %d measured (%s)", sum(r["met"] for r in measured), len(measured),
             ", ".join(f"{r['name']} {r['status']}" for r in score))
    log.info("done in %.1f s", timings["total_s"])
    shown = [out / "report.html"] + ([sheet] if sheet.exists() else [])
    print(verdict_line(honest))
    print(baselines_line(honest["baselines"]))
    print("reports: " + "\n         ".join(str(p.resolve()) for p in shown) + f"\nresults: {out.resolve()}")
    if registered is not None:
        print(f"registered: {registered['ref']} in {registered['registry']} ({registered['describe']})")
    return out


def _register(args, bars, cfg, strategy, stops, sizing, limits, costs, contract, instrument, cal, oos_run,
              metrics, out, log) -> dict:
    """--register: the final model (ml.training.fit_final) as a model bundle, the next version of the name,
    with the monitor's reference (its training features; the walk-forward's out-of-sample probabilities,
    session returns and trades)."""
    from ml.monitoring import MonitorReference
    from ml.registry import ModelBundle, ModelRegistry, data_fingerprint, default_registry_path
    from ml.training import fit_final
    from ml.training._walkforward import _DEFAULT_LABEL_PARAMS

    t0 = time.perf_counter()
    final = fit_final(bars, cfg)
    preds, res, trades = oos_run
    label_params = {**_DEFAULT_LABEL_PARAMS[cfg.label], **(cfg.label_params or {})}
    horizon = int(label_params.get("horizon", label_params.get("max_holding", 10)))
    wins = (trades["net_pnl"] > 0).astype(float).to_numpy() if len(trades) else np.empty(0)
    reference = MonitorReference.from_walkforward(
        final.features, preds["probability"], bars["close"], daily_returns(res.returns, cal).to_numpy(), wins,
        horizon, calendar=cal)
    bundle = ModelBundle(
        model=final.model, features=final.selected, classes=final.classes, calendar=cal.name,
        bar_minutes=float(bar_minutes_of(bars)), strategy=strategy.get_params(),
        sizing=dataclasses.asdict(sizing), stops=dataclasses.asdict(stops), limits=dataclasses.asdict(limits),
        costs=dataclasses.asdict(costs), contract=dataclasses.asdict(contract), instrument=instrument.name,
        training={"fingerprint": data_fingerprint(bars), "train_start": final.train_start,
                  "train_end": final.train_end, "n_train": final.n_train, "params": final.params,
                  "walkforward": {k: getattr(cfg, k) for k in ("model", "label", "label_params", "train_sessions",
                                                               "n_features", "selector", "feature_groups",
                                                               "tune_trials", "seed")}},
        reference=reference)
    registry = ModelRegistry(args.registry if args.registry else default_registry_path())
    summary = {k: metrics.get(k) for k in ("sharpe", "deflated_sharpe", "n_trades", "net_pnl", "auc")}
    version = registry.register(bundle, {"metrics": summary, "verdict": metrics["verdict"],
                                         "walkforward_out": str(out.resolve())}, name=args.register)
    ref = f"{args.register}@{version}"
    log.info("registered %s in %s: %s", ref, registry.root, bundle.describe())
    return {"ref": ref, "name": args.register, "version": version, "registry": str(registry.root),
            "describe": bundle.describe(), "seconds": round(time.perf_counter() - t0, 2)}


def _pct(v):
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%"


def _num(v):
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.2f}"


if __name__ == "__main__":
    sys.exit(run_cli(main))
