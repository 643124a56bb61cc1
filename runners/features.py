"""Load, validate, build features and labels, select features on a training part.

    python -m runners.features                       # the bundled WDO sample
    python -m runners.features --data bars.csv.gz --symbol WDO --label fixed_horizon --horizon 15
    python -m runners.features --config runs/features-x/config.toml --n-features 10   # same run, one change

Writes to ``--out`` (default ``runs/features-<time>``):

- ``features.parquet``: every feature (rows = bars), plus ``session``;
- ``labels.parquet``: label, ret, t1, barrier (and uniqueness weight);
- ``selection.json``: the features chosen on the training sessions only, with
  their importances and correlation clusters;
- ``data_report.json``: what was loaded, validated, rolled and skipped;
- ``feature_catalog.csv``: the documentation of every feature;
- ``config.toml`` (``--config config.toml`` reproduces the run) and ``run.log``.

Every file is written atomically (a temporary file, then a rename), so an
interrupted run never leaves a half-written one.

Selection is fit on the first ``--train-frac`` of the sessions; training
labels whose end time ``t1`` reaches into the held-out sessions are purged
first, so nothing after the split leaks into the choice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ml.data import bars_calendar, sample_path
from ml.exceptions import ParameterError
from ml.features import FEATURE_GROUPS, FeatureSelector, available_features, bagging_share, build_features, feature_catalog, usable_rows
from ml.labels import fixed_horizon_labels, triple_barrier_labels, uniqueness_weights
from runners._cli import OneLineParser, atomic_output, atomic_write_json, default_out, prepare_out, run_cli
from runners._config import parse_args_with_config, write_toml
from runners._pipeline import add_data_flags, add_seed_flag, data_options, load_instrument, number, positive_int

LABELS = ("triple_barrier", "fixed_horizon")
SELECTORS = ("mdi", "permutation", "mutual_info")


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m runners.features",
        description="Load and validate bars, build causal features and labels, and select features "
                    "on the training sessions. With no arguments it runs on the bundled WDO sample.")
    p.add_argument("--config", metavar="FILE", help="TOML file of settings (flag names with underscores); flags "
                                                    "override it")
    add_data_flags(p)
    p.add_argument("--groups", help=f"comma-separated feature groups (default all: {','.join(FEATURE_GROUPS)})")
    p.add_argument("--label", default="triple_barrier", choices=LABELS)
    p.add_argument("--horizon", type=positive_int("--horizon"), default=30,
                   help="bars to the vertical barrier / fixed horizon (default 30)")
    p.add_argument("--threshold", type=number("--threshold", 0), default=0.0,
                   help="fixed_horizon: round-trip cost as a log return (default 0)")
    p.add_argument("--pt", type=number("--pt", 0, strict_lo=True), default=1.0,
                   help="triple_barrier: profit barrier in volatility units (default 1)")
    p.add_argument("--sl", type=number("--sl", 0, strict_lo=True), default=1.0,
                   help="triple_barrier: stop barrier in volatility units (default 1)")
    p.add_argument("--n-features", type=positive_int("--n-features"), default=20)
    p.add_argument("--selector", default="mdi", choices=SELECTORS)
    p.add_argument("--train-frac", type=_fraction, default=0.7,
                   help="share of sessions used to select features (default 0.7)")
    add_seed_flag(p, "the selection forest")
    p.add_argument("--out", help="output folder (default runs/features-<time>)")
    p.add_argument("--quiet", action="store_true", help="only errors on the terminal (run.log keeps all)")
    return p


def main(argv=None) -> Path:
    parser = build_parser()
    args = parse_args_with_config(parser, argv)
    t_start = time.perf_counter()
    data = args.data or [str(sample_path("wdo"))]
    out = Path(args.out) if args.out else default_out("features")
    lock, log = prepare_out(out, args.quiet)
    try:
        return _run(args, data, out, log, t_start)
    finally:
        lock.release()


def _run(args, data, out, log, t_start) -> Path:
    bars, report = load_instrument(data, log=log, **data_options(args))

    groups = None if not args.groups else [g.strip() for g in args.groups.split(",") if g.strip()]
    t0 = time.perf_counter()
    X = build_features(bars, groups=groups, calendar=args.calendar)
    log.info("built %d features in %.2f s (%d skipped for missing columns)", X.shape[1],
             time.perf_counter() - t0, len(X.attrs.get("skipped_features", [])))

    if args.label == "triple_barrier":
        labels = triple_barrier_labels(bars, max_holding=args.horizon, pt=args.pt, sl=args.sl,
                                       calendar=args.calendar)
    else:
        labels = fixed_horizon_labels(bars, args.horizon, args.threshold, calendar=args.calendar)
    labels["weight"] = uniqueness_weights(labels["t1"], bars.index)
    counts = labels["label"].value_counts(dropna=False).sort_index()
    log.info("labels (%s, horizon %d bars): %s", args.label, args.horizon,
             ", ".join(f"{k}: {v}" for k, v in counts.items()))

    session = bars_calendar(bars, args.calendar).sessions(bars.index).session
    n_sessions = int(session.max()) + 1
    n_train = max(1, int(round(args.train_frac * n_sessions)))
    if n_train >= n_sessions:
        raise ParameterError(f"--train-frac {args.train_frac} leaves no held-out session out of {n_sessions}")
    test_start = bars.index[np.argmax(session >= n_train)]
    train = (session < n_train) & (labels["t1"] < test_start).to_numpy()  # purge labels reaching the test part
    ok = train & labels["label"].notna().to_numpy()
    # Overlapping labels: each tree sees about as many rows as there are
    # independent labels (average uniqueness, Lopez de Prado 2018, ch. 4).
    # features undefined on most training rows (windows longer than the span) do not compete
    candidates = available_features(X[ok])
    if len(candidates) < X.shape[1]:
        log.info("%d feature(s) left out of the selection: defined on fewer than half of the training rows",
                 X.shape[1] - len(candidates))
    share = bagging_share(labels["weight"][ok].to_numpy(), usable_rows(X.loc[ok, candidates]), min_samples_leaf=20)
    selector = FeatureSelector(n_features=min(args.n_features, len(candidates)), method=args.selector,
                               max_samples=share, min_samples_leaf=20, random_state=args.seed)
    # overlap handled by max_samples (weights would count it twice); t1 purges a permutation hold-out
    selector.fit(X.loc[ok, candidates], labels["label"][ok], t1=labels["t1"][ok])
    selected = list(selector.selected_)
    log.info("selected %d features on %d training sessions (%s rows, purged at %s): %s", len(selected),
             n_train, f"{int(ok.sum()):,}", test_start, ", ".join(selected))

    feats = X.copy()
    feats.insert(0, "session", session)
    with atomic_output(out / "features.parquet") as tmp:
        feats.to_parquet(tmp)
    with atomic_output(out / "labels.parquet") as tmp:
        labels.to_parquet(tmp)
    with atomic_output(out / "feature_catalog.csv") as tmp:
        feature_catalog().to_csv(tmp)
    atomic_write_json(out / "selection.json", {
        "selected": selected, "method": args.selector, "n_features": args.n_features,
        "importance": {k: float(selector.importances_[k]) for k in selected},
        "clusters": {k: int(selector.clusters_[k]) for k in selected},
        "max_samples": share,
        "train_sessions": n_train, "test_start": test_start, "train_rows": int(ok.sum()), "seed": args.seed,
    })
    report.update({"features": X.shape[1], "skipped_features": X.attrs.get("skipped_features", []),
                   "label": args.label, "label_counts": {str(k): int(v) for k, v in counts.items()},
                   "sessions": n_sessions, "seconds": round(time.perf_counter() - t_start, 2)})
    atomic_write_json(out / "data_report.json", report)
    settings = {k: v for k, v in vars(args).items() if k not in ("config", "out", "quiet")}
    settings["data"] = [str(Path(d).resolve()) for d in data]
    write_toml(out / "config.toml", settings,
               header="Settings of this run; `python -m runners.features --config config.toml --out DIR` "
                      "reproduces it (flags override the file).")
    log.info("done in %.1f s; results in %s", time.perf_counter() - t_start, out.resolve())
    print(f"results: {out.resolve()}")
    return out


if __name__ == "__main__":
    sys.exit(run_cli(main))
