"""Parameter sweep of the probability-threshold strategy over out-of-sample probabilities.

    python -m runners.sweep                                # bundled WDO sample, random forest, small grid
    python -m runners.sweep --data bars.parquet --predictions runs/wf/predictions.parquet \\
        --grid "long_threshold=0.52:0.7:0.02,holding=5,10,20,stop_atr=1:3:0.5" --monte-carlo 2000 --top 10

Probabilities come from ``--predictions`` (the ``predictions.parquet`` of
``python -m runners.walkforward``: its ``probability`` column, else the signal
probability of its ``p_<class>`` columns) or are trained here, walking
forward, with ``--model`` (default: ``random_forest``, 50 trees of depth <= 6).  Only the
out-of-sample span is swept: the bars from the first to the last prediction.

Every combination of ``--grid`` runs through :func:`engines.sweep.sweep` (the
numba tier) in chunks; then the best combination (highest annualised Sharpe)
is re-run in full.  Writes to ``--out`` (default ``runs/sweep-<time>``):

- ``sweep.parquet``: one row per combination (index: the swept parameters;
  columns: the metrics of :data:`engines.sweep.RESULT_COLUMNS`); its attrs
  keep ``n_trials`` and the per-session returns, so
  :func:`engines.sweep.overfitting` works on ``pd.read_parquet`` of it;
- ``top_k.csv``: the ``--top`` best combinations by Sharpe (also printed);
- ``heatmaps.html``: for each pair of swept parameters, the best Sharpe over
  the others (plotly, self-contained: opens offline);
- ``metrics.json``: the best combination, its metrics re-run in backtrader
  with full costs (top-level keys), the sweep's row, the deflated Sharpe
  ratio (trials = the number of grid combinations) and the PBO, and the
  check that backtrader's trades equal the simulator's;
- ``monte_carlo.json`` (+ ``monte_carlo.parquet``, the raw draws): trade
  bootstrap, block bootstrap and random-entry null of the best combination:
  quantiles and p-values, labelled as those of an in-sample best (not
  adjusted for the choice); and ``best_of_grid``, the p-value adjusted for
  it (:func:`engines.sweep.best_of_grid_null`, ``--best-null`` draws), which
  the verdict uses;
- ``tearsheet.html`` (quantstats, session returns), ``trades.csv`` and
  ``equity.csv`` of the backtrader re-run;
- ``predictions.parquet`` (with ``--model``), ``run.json`` (resolved config,
  seed, data hash, versions, timings, chunk counters), ``config.toml``
  (``--config config.toml`` reproduces the run) and ``run.log``.

Resume: finished chunks are saved atomically under ``<out>/chunks/`` with a
key of everything that changes their results (data, probabilities, the
chunk's grid, costs, contract, sizing, base strategy and stops, engine code);
rerunning with the same ``--out`` loads them instead of recomputing, and
drops chunks whose key no longer matches (logged with the settings that
changed).  Probabilities trained with ``--model`` are cached the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from engines.sweep import SWEEP_CODE
from ml._checks import did_you_mean
from ml._fingerprint import source_hash
from ml.exceptions import BarDataError, ParameterError
from runners._cli import OneLineParser, atomic_output, atomic_write_json, atomic_write_text, default_out, \
    prepare_out, run_cli
from runners._config import KeyValue, flags_given, parse_args_with_config, write_toml
from runners._report import evidence_html, verdict_line
from runners._pipeline import add_cost_flags, add_data_flags, add_execution_flags, add_seed_flag, \
    add_strategy_flags, assumptions, code_version, contract_of, contracts_of, costs_of, data_options, execution_of, \
    file_hash, library_versions, limits_of, load_instrument, log_assumptions, n_jobs, positive_int, \
    signal_probability, stops_of, strategy_of, whole

#: Grid of a run with no ``--grid``: 5 x 3 x 3 = 45 combinations.
DEFAULT_GRID = "long_threshold=0.52:0.60:0.02,min_holding=5,10,20,sl_atr=0,1.5,3"
#: Model and parameters of a run given neither ``--predictions`` nor ``--model``.
DEFAULT_MODEL = "random_forest"
DEFAULT_MODEL_PARAMS = {"n_estimators": 50, "max_depth": 6}
_STRATEGY_KEYS = ("long_threshold", "short_threshold", "min_holding")
_STOP_KEYS = ("sl_atr", "tp_atr", "trail_atr", "max_bars")
_INT_KEYS = ("min_holding", "max_bars")
#: Bumped when the chunk file layout or the meaning of a key changes.
_CHUNK_FORMAT = 1


# --------------------------------------------------------------------------- flags


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m runners.sweep",
        description="Sweep strategy and risk parameters over out-of-sample probabilities (numba tier), "
                    "then re-run the best combination in backtrader with full costs: sweep.parquet, top-K "
                    "table, heatmaps, deflated Sharpe and PBO, Monte Carlo, tearsheet. With no arguments "
                    "it runs on the bundled WDO sample with a random forest and a small grid.")
    p.add_argument("--config", metavar="FILE", help="TOML file of settings (flag names with underscores); flags override it")
    add_data_flags(p)
    g = p.add_argument_group("probabilities (one source)")
    g.add_argument("--predictions", metavar="FILE", help="predictions.parquet of python -m runners.walkforward (column "
                                         "`probability`, else `p_-1`/`p_1` or `p_up`)")
    g.add_argument("--model", metavar="NAME",
                   help=f"train walk-forward probabilities with this model: catboost, logistic, random_forest, svm, mlp, "
                        f"lstm, transformer, ... (default without --predictions: "
                        f"{DEFAULT_MODEL} with "
                        f"{', '.join(f'{k}={v}' for k, v in DEFAULT_MODEL_PARAMS.items())})")
    g.add_argument("--model-param", dest="model_params", action=KeyValue,
                   help="model constructor argument, repeatable (e.g. n_estimators=50)")
    g.add_argument("--label", choices=("triple_barrier", "fixed_horizon"), default="triple_barrier",
                   help="labels the model learns (default triple_barrier)")
    g.add_argument("--train-sessions", metavar="N", type=positive_int("--train-sessions"), default=20,
                   help="walk-forward training window in sessions (default 20)")
    g.add_argument("--test-sessions", metavar="N", type=positive_int("--test-sessions"), default=5,
                   help="walk-forward test window in sessions (default 5)")
    g.add_argument("--n-features", metavar="N", type=whole("--n-features", 0), default=20,
                   help="features selected per fold (default 20; 0 keeps all)")

    g = p.add_argument_group("sweep")
    g.add_argument("--grid", metavar="SPEC", default=DEFAULT_GRID,
                   help="parameters and values: 'name=v1,v2,...' or 'name=start:stop:step' (stop included), "
                        "e.g. 'long_threshold=0.52:0.7:0.02,holding=5,10,20,stop_atr=1:3:0.5'. Names: "
                        "long_threshold (long), short_threshold (short), min_holding (holding), sl_atr (sl, "
                        "stop_atr), tp_atr (tp, take_atr), trail_atr (trail), max_bars (time_stop); 0 disables "
                        "a stop; 'short=1-long' ties the short threshold to the long one (one combination per "
                        f"long value, not a product) (default {DEFAULT_GRID!r})")
    g.add_argument("--top", metavar="K", type=positive_int("--top"), default=10, help="rows of the top-K table (default 10)")
    g.add_argument("--portfolio", metavar="K", type=whole("--portfolio", 0), default=0,
                   help="write the vectorbt Portfolio of the K best combinations to portfolios/ (default 0: none)")
    g.add_argument("--monte-carlo", metavar="N", type=whole("--monte-carlo", 0), default=500,
                   help="Monte Carlo draws per method for the best combination (default 500; 0: none)")
    g.add_argument("--best-null", metavar="N", type=whole("--best-null", 0), default=200,
                   help="draws of the best-of-grid null: the whole grid swept on rotated (uninformative) "
                        "probabilities, giving the best combination a p-value adjusted for choosing it "
                        "(default 200; 0: none)")
    g.add_argument("--chunk-size", metavar="N", type=positive_int("--chunk-size"), default=64,
                   help="combinations per saved chunk (default 64); a rerun reuses finished chunks")
    add_strategy_flags(p)       # the values of the parameters not swept
    add_cost_flags(p)
    add_execution_flags(p, where="in the backtrader re-run of the best combination only")
    g = p.add_argument_group("run")
    add_seed_flag(g, "the model, the Monte Carlo draws and the best-of-grid null")
    g.add_argument("--n-jobs", metavar="N", type=n_jobs, default=1, help="joblib workers for chunks, folds and draws")
    g.add_argument("--out", metavar="DIR", help="output folder (default runs/sweep-<time>); the same folder resumes")
    g.add_argument("--ledger", metavar="FILE",
                   help="trial ledger (default $DAYTRADE_ML_LEDGER, else ~/.daytrade-ml/trials.jsonl)")
    g.add_argument("--quiet", action="store_true", help="only errors and the results line on the terminal "
                                                        "(run.log keeps all)")
    return p


# --------------------------------------------------------------------------- grid


def parse_grid(spec: str) -> dict[str, list]:
    """``--grid`` text as ``{canonical name: values}`` in :data:`engines.sweep.GRID_PARAMS` order."""
    from engines.sweep import GRID_PARAMS, grid_from_spec

    try:
        grid = grid_from_spec(spec)
    except ParameterError as exc:
        raise ParameterError(f"--grid: {exc}") from None
    out = {}
    for name in GRID_PARAMS:
        if name not in grid:
            continue
        if callable(grid[name]):  # tied to another parameter ('short=1-long')
            out[name] = grid[name]
            continue
        values = []
        for v in grid[name]:
            if name in _INT_KEYS:
                if float(v) != int(v):
                    raise ParameterError(f"--grid: `{name}` takes whole numbers of bars, got {v!r}.")
                values.append(int(v))
            else:
                values.append(float(v))
        out[name] = list(dict.fromkeys(values))
    return out


def _base_configs(args):
    return strategy_of(args), stops_of(args)


def combo_configs(params: dict, strategy, stops):
    """The strategy and stops of one combination (a swept 0 disables that stop)."""
    from strategies import ProbabilityThresholdStrategy

    kw = {k: params[k] for k in _STRATEGY_KEYS if k in params}
    strat = ProbabilityThresholdStrategy(**{**strategy.get_params(), **kw}) if kw else strategy
    stop_kw = {k: (None if params[k] == 0 else params[k]) for k in _STOP_KEYS if k in params}
    return strat, (dataclasses.replace(stops, **stop_kw) if stop_kw else stops)


def _check_grid_values(grid, strategy, stops):
    """Every value of the grid through the strategy's and the stops' own rules (before any work).

    A Cartesian grid is checked value by value (with the base values of the
    other parameters); a grid with tied parameters combination by combination.
    """
    from engines.sweep import grid_combinations

    try:
        names, combos = grid_combinations(grid)
    except (ParameterError, TypeError) as exc:
        raise ParameterError(f"--grid: {exc}") from None
    if any(callable(v) for v in grid.values()):  # tied values are valid only together: check each combination
        checks = [dict(zip(names, c)) for c in combos]
    else:
        checks = [{name: v} for name, values in zip(names, zip(*combos)) for v in dict.fromkeys(values)]
    for params in checks:
        strat, st = combo_configs(params, strategy, stops)
        try:
            strat.kernel_args()
            st.kernel_args()
        except (ParameterError, TypeError) as exc:
            raise ParameterError(f"--grid: {exc}") from None


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- probabilities


def _read_predictions(path: str, bars: pd.DataFrame, log) -> tuple[pd.Series, dict]:
    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"--predictions {path}: no such file.")
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's fault
        raise ParameterError(f"--predictions {path}: not a readable Parquet file ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}).") from None
    if "timestamp" in df.columns:
        df = df.set_index("timestamp")
    if not isinstance(df.index, pd.DatetimeIndex):
        raise BarDataError(f"--predictions {path}: needs a `timestamp` index (or column) of bar times, "
                           f"got a {type(df.index).__name__}.", column="timestamp", source=str(path))
    if df.index.tz is None:
        raise BarDataError(f"--predictions {path}: `timestamp` has no time zone; write tz-aware bar times "
                           f"(as python -m runners.walkforward does).", column="timestamp", source=str(path))
    if df.index.has_duplicates:
        dup = df.index[df.index.duplicated()][0]
        raise BarDataError(f"--predictions {path}: `timestamp` {dup} appears more than once.",
                           column="timestamp", source=str(path))
    if "probability" in df.columns:
        proba, column = df["probability"], "probability"
    else:
        try:
            proba = signal_probability(df)
        except ParameterError as exc:
            raise ParameterError(f"--predictions {path}: no `probability` column, and {exc}") from None
        column = "p_1 / (p_1 + p_-1)" if "p_1" in df.columns and "p_-1" in df.columns else "p_up"
    try:
        proba = proba.astype(np.float64)
    except (TypeError, ValueError):
        raise BarDataError(f"--predictions {path}: column `{column}` must hold numbers.",
                           column=column, source=str(path)) from None
    bad = proba.notna() & ~proba.between(0.0, 1.0)
    if bad.any():
        raise BarDataError(f"--predictions {path}: column `{column}` must hold probabilities in [0, 1]; "
                           f"{proba[bad].iloc[0]!r} at {proba.index[bad][0]}.", column=column, source=str(path))
    proba = proba.sort_index()
    proba.index = proba.index.tz_convert(bars.index.tz)
    inside = proba.index.isin(bars.index)
    if not inside.any():
        raise ParameterError(
            f"--predictions {path}: no prediction timestamp matches a bar of --data (predictions "
            f"{proba.index[0]} .. {proba.index[-1]}, bars {bars.index[0]} .. {bars.index[-1]}); "
            f"use the predictions made on these bars.")
    n_out = int((~inside).sum())
    if n_out:
        log.warning("%d of %d predictions have no matching bar and are not used", n_out, len(proba))
    proba = proba[inside]
    info = {"source": "file", "file": str(p.resolve()), "file_hash": file_hash([p]), "column": column,
            "n_predictions": int(len(df)), "n_without_bar": n_out, "labels": "label" in df.columns}
    labels = df["label"].astype(np.float64).sort_index() if "label" in df.columns else None
    if labels is not None:
        labels.index = labels.index.tz_convert(bars.index.tz)
    return proba.rename("probability"), info, labels


def _train_predictions(args, bars, out: Path, data_hash: str, log) -> tuple[pd.Series, dict]:
    from ml.training import WalkForwardConfig, train_walkforward

    cfg = WalkForwardConfig(model=args.model, model_params=dict(args.model_params), label=args.label,
                            train_sessions=args.train_sessions, test_sessions=args.test_sessions,
                            n_features=args.n_features, seed=args.seed, n_jobs=args.n_jobs,
                            calendar=args.calendar)
    cfg_dict = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "n_jobs"}
    key = _key({"format": _CHUNK_FORMAT, "data_hash": data_hash, "symbol": args.symbol, "tz": args.tz,
                "loading": [args.nan, args.bar_time, args.outside_session],
                "walkforward": cfg_dict, "code": source_hash("ml")})
    cache = out / "chunks" / f"predictions-{key}.parquet"
    info = {"source": "model", "model": args.model, "model_params": dict(args.model_params), "key": key,
            "walkforward": cfg_dict}
    if cache.is_file():
        try:
            preds = pd.read_parquet(cache)
            log.info("reused the walk-forward predictions of %s (key %s)", args.model, key)
            info["reused"] = True
        except Exception as exc:  # noqa: BLE001 - a broken cache is recomputed
            log.warning("cached predictions %s unreadable (%s); training again", cache.name, exc)
            preds = None
    else:
        preds = None
    if preds is None:
        for old in (out / "chunks").glob("predictions-*.parquet"):
            log.info("settings changed since the last run here: cached predictions %s are stale; removed",
                     old.name)
            old.unlink()
        t0 = time.perf_counter()
        log.info("training %s walking forward (%d train / %d test sessions, seed %d)", args.model,
                 args.train_sessions, args.test_sessions, args.seed)
        res = train_walkforward(bars, cfg, progress=not args.quiet and args.n_jobs == 1)
        preds = res.predictions.copy()
        preds["probability"] = signal_probability(preds)
        log.info("trained %d folds in %.1f s: out-of-sample auc %.3f, log loss %.3f on %s predictions",
                 len(res.folds), time.perf_counter() - t0, res.metrics.get("auc", float("nan")),
                 res.metrics.get("log_loss", float("nan")), f"{len(preds):,}")
        with atomic_output(cache) as tmp:
            preds.to_parquet(tmp)
        info.update(reused=False, model_metrics=res.metrics)
    with atomic_output(out / "predictions.parquet") as tmp:
        preds.to_parquet(tmp)
    info["n_predictions"] = int(len(preds))
    proba = preds["probability"].astype(np.float64)
    return proba[proba.index.isin(bars.index)], info, preds["label"].astype(np.float64)


# --------------------------------------------------------------------------- sweep in chunks


def run_sweep(bars, proba, grid, kw, settings: dict, out: Path, *, chunk_size: int, n_jobs: int, quiet: bool,
              log) -> tuple[pd.DataFrame, dict]:
    """Sweep ``grid`` in chunks saved under ``out/chunks`` (:func:`engines.sweep.chunked_sweep`)."""
    from engines.sweep import chunked_sweep

    return chunked_sweep(bars, proba, grid, folder=out / "chunks", key={"format": _CHUNK_FORMAT, **settings},
                         chunk_size=chunk_size, n_jobs=n_jobs, progress=not quiet, log=log, **kw)


# --------------------------------------------------------------------------- re-runs


def _write_portfolios(oos, proba, top, names, kw, out, log) -> None:
    """``--portfolio K``: each of the K best combinations as a vectorbt Portfolio (``vbt.Portfolio.load``),
    with ``portfolios/index.json`` saying what each is (:func:`engines.sweep.portfolio_of`)."""
    import warnings

    from engines.sweep import portfolio_of

    folder = out / "portfolios"
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for _, row in top.iterrows():
        params = _params_of(row, names)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pf, kind, settings = portfolio_of(oos, proba, params, **kw)
        name = f"rank-{int(row['rank']):03d}.pkl"
        with atomic_output(folder / name) as tmp:
            pf.save(str(tmp))
        entry = {"rank": int(row["rank"]), "file": name, "params": params, "kind": kind,
                 "sweep_sharpe": float(row["sharpe"]) if np.isfinite(row["sharpe"]) else None}
        if settings is not None:
            entry["stats_settings"] = {"year_freq": str(settings["year_freq"])}
            entry["vectorbt_sharpe"] = float(pf.stats(settings=settings)["Sharpe Ratio"])
        index.append(entry)
    atomic_write_json(folder / "index.json", {
        "how_to_read": "vbt.Portfolio.load(file); for kind 'vectorbt engine', pf.stats(settings={'year_freq': "
                       "pd.Timedelta(stats_settings['year_freq'])}) gives the sweep's Sharpe ratio; a portfolio "
                       "'rebuilt from the simulator's fills' has up to three rows per bar (plots and records only)",
        "portfolios": index})
    log.info("wrote the vectorbt Portfolio of the %d best combination(s) to %s", len(index), folder)


def _trade_check(sim, btr) -> dict:
    cols = ["entry_idx", "exit_idx", "side", "qty", "entry_price", "exit_price", "net_pnl"]
    a, b = sim.trades, btr.trades
    same = len(a) == len(b)
    if same and len(a):
        for c in cols:
            x, y = a[c].to_numpy(dtype=np.float64), b[c].to_numpy(dtype=np.float64)
            same = same and bool(np.allclose(x, y, rtol=0, atol=1e-6))
    eq_diff = float(np.max(np.abs(sim.equity.to_numpy() - btr.equity.to_numpy()))) if len(sim.equity) else 0.0
    return {"n_trades_simulator": int(len(a)), "n_trades_backtrader": int(len(b)), "trades_equal": bool(same),
            "max_abs_equity_difference": eq_diff}


def _params_of(row: pd.Series, names) -> dict:
    out = {}
    for n in names:
        v = row[n]
        out[n] = int(v) if n in _INT_KEYS else float(v)
    return out


# --------------------------------------------------------------------------- main


def _resolved_settings(args, data, contract, costs) -> dict:
    """Flags as a ``--config`` file reproducing the run (defaults resolved, output folder left out)."""
    s = {k: v for k, v in vars(args).items() if k not in ("config", "out", "quiet")}
    s["data"] = [str(Path(d).resolve()) for d in data]
    if s.get("predictions"):
        s["predictions"] = str(Path(s["predictions"]).resolve())
    s["contract"] = s.get("contract") or (None if s.get("instrument") else contract.name)
    s["commission"] = costs.commission_per_contract
    s["commission_pct"] = costs.commission_pct
    if not s.get("model_params"):
        s["model_params"] = None
    return s


def main(argv=None) -> Path:
    t_start = time.perf_counter()
    parser = build_parser()
    args = parse_args_with_config(parser, argv)
    timings = {}
    if args.predictions and args.model:
        # one source on the command line beats the other from the --config file
        given = flags_given(parser, argv)
        if "predictions" in given and "model" not in given:
            args.model, args.model_params = None, {}
        elif "model" in given and "predictions" not in given:
            args.predictions = None
        else:
            raise ParameterError("give --predictions or --model, not both (--predictions FILE reads "
                                 "probabilities, --model NAME trains them).")
    if args.model_params and not args.model and args.predictions:
        raise ParameterError("--model-param needs --model (the probabilities come from --predictions).")
    if not args.predictions and not args.model:
        args.model = DEFAULT_MODEL
        args.model_params = {**DEFAULT_MODEL_PARAMS, **(args.model_params or {})}
    args.model_params = dict(args.model_params or {})
    if args.predictions and not Path(args.predictions).is_file():
        raise ParameterError(f"--predictions {args.predictions}: no such file.")
    grid = parse_grid(args.grid)
    strategy, stops = _base_configs(args)
    try:
        strategy.kernel_args()
        stops.kernel_args()
    except (ParameterError, TypeError) as exc:
        raise ParameterError(f"strategy / stop flags: {exc}") from None
    _check_grid_values(grid, strategy, stops)
    if args.model:
        from ml.models import get_model_class

        try:
            cls = get_model_class(args.model)
        except ParameterError as exc:
            raise ParameterError(f"--model: {exc}") from None
        if cls.kind != "classifier":
            raise ParameterError(f"--model: {args.model!r} is a {cls.kind} model; choose a classifier "
                                 "(catboost, logistic, random_forest, svm, mlp, lstm, transformer).")
        known = cls().get_params()
        for k in args.model_params:
            if k not in known:
                raise ParameterError(f"--model-param {k}: not a parameter of {args.model} "
                                     f"({', '.join(sorted(known))}).{did_you_mean(k, list(known))}")

    out = Path(args.out) if args.out else default_out("sweep")
    lock, log = prepare_out(out, args.quiet)
    try:
        return _run(args, argv, grid, strategy, stops, out, log, timings, t_start)
    finally:
        lock.release()


def _run(args, argv, grid, strategy, stops, out, log, timings, t_start):
    log.info("python -m runners.sweep %s", " ".join(sys.argv[1:] if argv is None else argv))

    t0 = time.perf_counter()
    bars, report = load_instrument(args.data, log=log, **data_options(args))
    instrument, contract = contract_of(args, bars)
    costs = costs_of(args, instrument)
    timings["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if args.predictions:
        proba, pinfo, labels = _read_predictions(args.predictions, bars, log)
    else:
        proba, pinfo, labels = _train_predictions(args, bars, out, report["data_hash"], log)
    timings["predictions"] = time.perf_counter() - t0
    start, end = proba.index[0], proba.index[-1]
    oos = bars.loc[start:end]
    oos.attrs = dict(bars.attrs)
    proba = proba.reindex(oos.index)
    from ml.data import bars_calendar

    cal = bars_calendar(oos, args.calendar)
    n_sessions = int(pd.Index(cal.sessions(oos.index).session).nunique())
    pinfo.update(oos_start=start, oos_end=end, oos_bars=int(len(oos)), oos_sessions=n_sessions,
                 bars_without_prediction=int(proba.isna().sum()),
                 proba_hash=hashlib.sha256(np.ascontiguousarray(proba.to_numpy(np.float64)).tobytes()
                                           + oos.index.asi8.tobytes()).hexdigest()[:16])
    log.info("sweeping the out-of-sample span %s .. %s: %s bars, %d sessions (%d bars without a prediction "
             "stay flat)", start, end, f"{len(oos):,}", n_sessions, pinfo["bars_without_prediction"])

    from risk.rules import Sizing

    sizing = Sizing(contracts=contracts_of(args, instrument))
    used = assumptions(instrument, cal, costs, sizing.contracts, bars)
    log_assumptions(log, used)
    limits = limits_of(args)
    kw = dict(strategy=strategy, stops=stops, contract=contract, sizing=sizing, costs=costs, limits=limits,
              initial_equity=args.initial_equity, calendar=args.calendar)
    settings = {
        "data_hash": report["data_hash"], "symbol": args.symbol, "calendar": args.calendar, "tz": args.tz,
        "proba_hash": pinfo["proba_hash"], "contract": instrument.summary(), "costs": dataclasses.asdict(costs),
        "sizing": dataclasses.asdict(sizing), "initial_equity": args.initial_equity,
        "strategy": strategy.get_params(), "stops": dataclasses.asdict(stops), "limits": dataclasses.asdict(limits),
        "engine_code": source_hash(*SWEEP_CODE),
    }
    t0 = time.perf_counter()
    result, counters = run_sweep(oos, proba, grid, kw, settings, out, chunk_size=args.chunk_size,
                                 n_jobs=args.n_jobs, quiet=args.quiet, log=log)
    timings["sweep"] = time.perf_counter() - t0
    with atomic_output(out / "sweep.parquet") as tmp:
        result.to_parquet(tmp)

    from runners._sweep_report import heatmaps_html, monte_carlo_summary, top_k, top_k_text

    names = list(result.index.names)
    top = top_k(result, args.top)
    with atomic_output(out / "top_k.csv") as tmp:
        top.to_csv(tmp, index=False)
    table = top_k_text(top, names)
    _log_to_file(log, f"top {len(top)} of {len(result):,} combinations by Sharpe (annualised, net of "
                      f"costs):\n{table}")
    if args.portfolio:
        _write_portfolios(oos, proba, top_k(result, args.portfolio), names, kw, out, log)

    from engines.sweep import overfitting

    t0 = time.perf_counter()
    # every combination is a trial on these data, counted in the user's ledger with what else was
    # tried on them (walk-forward configurations, other sweeps): the deflated Sharpe pays for all
    from ml.registry import TrialLedger, data_fingerprint

    ledger = TrialLedger(args.ledger)
    fingerprint = data_fingerprint(bars)      # the bars loaded, as the walk-forward keys them
    sweep_key = _key({"settings": settings, "grid": grid})
    ledger.record(fingerprint, sweep_key, kind="sweep", n=int(len(result)), out=out.resolve())
    counted = ledger.summary(fingerprint)
    swept = int(result.attrs["n_trials"])
    result.attrs["n_trials"] = max(swept, counted["n_trials"])
    try:
        ovf = overfitting(result)
    except ParameterError as exc:
        log.warning("no deflated Sharpe / PBO: %s", exc)
        ovf = {"error": str(exc), "n_trials": int(result.attrs["n_trials"])}
    result.attrs["n_trials"] = swept
    ovf["counted"] = counted
    if ovf.get("trial_sharpe_variance") is not None:
        ledger.record(fingerprint, sweep_key, kind="sweep", n=int(len(result)), out=out.resolve(),
                      sharpe_variance=float(ovf["trial_sharpe_variance"]))
    log.info("deflated Sharpe over %d trial(s) on these data (ledger %s, fingerprint %s: %s)", ovf["n_trials"],
             counted["ledger"], fingerprint, ", ".join(f"{n} {k}" for k, n in counted["by_kind"].items()))
    timings["overfitting"] = time.perf_counter() - t0

    best = _params_of(top.iloc[0], names)
    log.info("best combination: %s", ", ".join(f"{k}={v:g}" for k, v in best.items()))
    from engines.sweep import rerun

    t0 = time.perf_counter()
    sim = rerun(oos, proba, best, **kw).result
    mc = {"best": best, "methods": {},
          "basis": f"the Monte Carlo methods resample or re-enter the trades of the in-sample best of "
                   f"{len(result)} combinations, so their p-values are those of that one combination, NOT "
                   f"adjusted for choosing it among the others; best_of_grid is (see engines.sweep."
                   f"best_of_grid_null)"}
    if args.best_null:
        from engines.sweep import best_of_grid_null

        observed = float(result["sharpe"].max()) if result["sharpe"].notna().any() else float("nan")
        try:
            mc["best_of_grid"] = best_of_grid_null(oos, proba, grid, n=args.best_null, seed=args.seed,
                                                   observed=observed, n_jobs=args.n_jobs, **kw)
            log.info("best-of-grid null (%d draws of all %d combinations): p = %.3f for the best Sharpe %.2f "
                     "(adjusted for choosing it)", args.best_null, len(result), mc["best_of_grid"]["p_value"],
                     observed)
        except ParameterError as exc:
            log.warning("best-of-grid null skipped: %s", exc)
            mc["best_of_grid"] = {"error": str(exc)}
    else:
        log.info("best-of-grid null skipped (--best-null 0)")
    mc_frames = []
    if args.monte_carlo:
        from tqdm.auto import tqdm

        from engines.montecarlo import METHODS, monte_carlo

        for method in tqdm(METHODS, desc="monte carlo", unit="method", disable=args.quiet):
            try:
                res = monte_carlo(sim, method=method, n=args.monte_carlo, seed=args.seed, bars=oos,
                                  n_jobs=args.n_jobs)
            except ParameterError as exc:
                log.warning("Monte Carlo %s skipped: %s", method, exc)
                mc["methods"][method] = {"error": str(exc)}
                continue
            mc["methods"][method] = {**monte_carlo_summary(res),
                                     "basis": "the in-sample best combination (not adjusted for the choice)"}
            mc_frames.append(pd.DataFrame(res.draws).assign(method=method).rename_axis("draw").reset_index())
            log.info("Monte Carlo %s (%d draws) of the in-sample best: Sharpe 5%%-95%% %.2f .. %.2f (real %.2f), "
                     "p-values %s (not adjusted for the choice)", method,
                     args.monte_carlo, res.quantiles.loc[0.05, "sharpe"], res.quantiles.loc[0.95, "sharpe"],
                     res.real["sharpe"], ", ".join(f"{k} {v:.3f}" for k, v in res.p_values.items()))
    else:
        log.info("Monte Carlo skipped (--monte-carlo 0)")
    if mc_frames:
        with atomic_output(out / "monte_carlo.parquet") as tmp:
            pd.concat(mc_frames, ignore_index=True).to_parquet(tmp)
    atomic_write_json(out / "monte_carlo.json", mc)
    timings["monte_carlo"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    strat_b, stops_b = combo_configs(best, strategy, stops)
    same_costs = not args.impact and args.participation is None
    from engines.bt import run_backtrader

    sides = strat_b.sides(proba, oos, calendar=args.calendar)
    final = run_backtrader(oos, sides, contract=contract, costs=costs, sizing=sizing, stops=stops_b, limits=limits,
                           initial_equity=args.initial_equity, calendar=args.calendar, **execution_of(args))
    engine = "backtrader"
    check = _trade_check(sim, final)
    check["same_costs"] = same_costs
    if same_costs and not check["trades_equal"]:
        log.warning("backtrader's trades differ from the simulator's for the best combination: %s", check)
    log.info("backtrader re-run: %d trades, Sharpe %.2f, total return %.2f%% (simulator: %d trades, "
             "Sharpe %.2f)", len(final.trades), final.metrics["sharpe"], 100 * final.metrics["total_return"],
             len(sim.trades), sim.metrics["sharpe"])
    timings["backtrader"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with atomic_output(out / "trades.csv") as tmp:
        final.trades.to_csv(tmp)
    eq = pd.DataFrame({"equity": final.equity, "returns": final.returns, "position": final.positions})
    eq.index.name = "timestamp"
    with atomic_output(out / "equity.csv") as tmp:
        eq.to_csv(tmp)
    from engines.report import tearsheet

    try:
        with atomic_output(out / "tearsheet.html") as tmp:
            tearsheet(final.returns, path=tmp, calendar=cal, positions=final.positions,
                      report_sharpe=final.metrics["sharpe"],
                      title=f"Best of sweep ({engine}): " + ", ".join(f"{k}={v:g}" for k, v in best.items()))
    except ParameterError as exc:
        log.warning("no tearsheet: %s", exc)
    timings["tearsheet"] = time.perf_counter() - t0

    evidence = _evidence(args, oos, proba, labels, cal, sides, stops_b, limits, contract, sizing, final, ovf,
                         int(ovf.get("n_trials", result.attrs["n_trials"])), instrument,
                         mc.get("best_of_grid", {}).get("p_value"))
    t0 = time.perf_counter()
    atomic_write_text(out / "heatmaps.html", heatmaps_html(
        result, title=f"Sweep of {', '.join(names)}",
        preface=evidence_html(evidence, instrument.currency)))
    timings["heatmaps"] = time.perf_counter() - t0

    row = top.iloc[0]
    metrics = {"verdict": evidence["verdict"]}
    metrics.update({k: final.metrics.get(k) for k in final.metrics})
    metrics.update(evidence)
    metrics.update({
        "engine": engine, "best": best,
        "deflated_sharpe": ovf.get("dsr"), "deflated_sharpe_p_value": ovf.get("p_value"),
        "pbo": ovf.get("pbo"), "prob_loss": ovf.get("prob_loss"),
        "n_trials": int(ovf.get("n_trials", result.attrs["n_trials"])),
        "n_trials_source": f"the trials counted on these data in the trial ledger {counted['ledger']} "
                           f"(fingerprint {fingerprint}): this sweep's {len(result)} combinations and "
                           "whatever else was tried on the same bars",
        "overfitting": ovf,
        "sweep_best": {k: row[k] for k in result.columns},
        "simulator": sim.metrics,
        "engine_check": check,
        "periods_per_year": result.attrs.get("periods_per_year"),
    })
    atomic_write_json(out / "metrics.json", metrics)

    settings_out = _resolved_settings(args, report["data"], contract, costs)
    write_toml(out / "config.toml", settings_out,
               header="Settings of this sweep; `python -m runners.sweep --config config.toml --out DIR` "
                      "reproduces it (flags override the file).")
    timings["total"] = time.perf_counter() - t_start
    versions = library_versions()
    try:
        import importlib.metadata

        versions["plotly"] = importlib.metadata.version("plotly")
    except Exception:  # noqa: BLE001
        versions["plotly"] = None
    atomic_write_json(out / "run.json", {
        "runner": "runners.sweep", "argv": list(sys.argv[1:] if argv is None else argv), "config": settings_out,
        "seed": args.seed, "data": report, "data_hash": report["data_hash"], "predictions": pinfo,
        "grid": {k: (str(v) if callable(v) else v) for k, v in grid.items()}, "n_combinations": int(len(result)),
        "chunks": counters, "result_settings": settings,
        "assumptions": used, "account": final.meta.get("account"),
        "versions": versions, "code_version": code_version(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
    })
    log.info("done in %.1f s; results in %s", timings["total"], out.resolve())
    log.info("%s", verdict_line(evidence))
    print(verdict_line(evidence))
    if not args.quiet:
        print(f"top {len(top)} of {len(result):,} combinations by Sharpe:\n{table}")
        print(f"deflated Sharpe {_fmt(ovf.get('dsr'))} over {ovf.get('n_trials')} trials counted on these data, "
              f"PBO {_fmt(ovf.get('pbo'))}; heatmaps.html, tearsheet.html, metrics.json in the folder below")
    print(f"results: {out.resolve()}")
    return out


def _evidence(args, oos, proba, labels, cal, sides, stops, limits, contract, sizing, final, ovf, n_trials,
              instrument, p_value=None) -> dict:
    """The verdict on the best combination: its net result (backtrader), the same sides without
    fees or slippage, the traded probability's AUC (when the predictions carry labels), the
    deflated Sharpe ratio over every combination swept and the best-of-grid null's p-value."""
    from engines.verdict import break_even_cost, closed_pnl, frictionless_run, traded_auc, verdict

    session = cal.sessions(oos.index).session
    if labels is not None:
        auc = traded_auc(proba.to_numpy(), labels.reindex(oos.index).to_numpy(), session, seed=args.seed)
    else:
        auc = {"auc": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "level": 0.95, "n": 0,
               "n_up": 0, "n_sessions": 0, "bootstrap": "not measured: the predictions carry no `label` column"}
    _, summary = frictionless_run(oos, sides, contract=contract, sizing=sizing, stops=stops, limits=limits,
                                  initial_equity=args.initial_equity, calendar=args.calendar)
    round_trips = summary.pop("round_trips")
    # the best of the grid was chosen in-sample: a frictionless PSR of that one combination is not
    # deflated for the choice, so only the deflated Sharpe and the AUC interval decide
    v = verdict(dsr=ovf.get("dsr"), n_trials=n_trials, auc=auc, net_pnl=closed_pnl(final.trades),
                gross_pnl=summary["pnl"], gross_psr=None, blown=bool(final.metrics.get("account_blown")),
                p_value=None if p_value is None or not np.isfinite(p_value) else float(p_value),
                p_basis="best-of-grid null")
    v["why"] += ("; the best combination was chosen in-sample among the combinations swept: its deflated "
                 "Sharpe counts them all")
    return {"traded_auc": auc,
            "frictionless": {**summary, "psr": None,
                             "basis": "the best combination's sides in the simulator with no commission and no "
                                      "slippage (in-sample choice: not a significance test)"},
            "break_even_cost": break_even_cost(summary["pnl"], round_trips, instrument.tick_value),
            "verdict": v}


def _log_to_file(log, message: str) -> None:
    """``message`` to run.log only (the terminal gets it on stdout instead)."""
    import logging

    record = log.makeRecord(log.name, logging.INFO, __file__, 0, message, None, None)
    for h in log.handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(record)


def _fmt(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


if __name__ == "__main__":
    sys.exit(run_cli(main))
