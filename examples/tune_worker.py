"""One Optuna worker tuning CatBoost on the bundled WDO sample.

Start the same command in several terminals (or machines, with a shared
PostgreSQL/MySQL URL); they share one study and together run the trials:

    python examples/tune_worker.py sqlite:///wdo_tune.db --trials 10
    python examples/tune_worker.py sqlite:///wdo_tune.db --trials 10
"""

import argparse
import warnings

from ml.data import continuous_contract, load_bars, sample_path
from ml.features import build_features
from ml.labels import triple_barrier_labels, uniqueness_weights
from ml.tuning import tune
from ml.validation import PurgedKFold


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("storage", help="Optuna storage URL, e.g. sqlite:///wdo_tune.db")
    ap.add_argument("--study-name", default="wdo-catboost")
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    bars = continuous_contract(load_bars(sample_path("wdo")))
    X = build_features(bars, groups=["momentum", "volatility", "range", "time"])
    lab = triple_barrier_labels(bars, max_holding=30)
    w = uniqueness_weights(lab["t1"], bars.index).to_numpy()  # concurrency over all bars
    ok = lab["label"].notna().to_numpy()
    X, lab, w = X[ok], lab[ok], w[ok]
    res = tune("catboost", X, lab["label"].to_numpy(), PurgedKFold(3, t1=lab["t1"]), n_trials=args.trials,
               storage=args.storage, study_name=args.study_name, sample_weight=w,
               fixed_params={"iterations": 100, "thread_count": 1})
    print(f"study {args.study_name!r}: {res.n_trials} trials so far; best log loss {res.best_score:.4f} "
          f"with {res.best_params}")


if __name__ == "__main__":
    main()
