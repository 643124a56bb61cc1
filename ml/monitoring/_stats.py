"""Drift and calibration statistics: PSI, Kolmogorov-Smirnov, Brier, ECE, adversarial AUC, bootstrap bands.

The two-sample Kolmogorov-Smirnov test is scipy's (:func:`scipy.stats.ks_2samp`);
the Brier score and the ROC AUC are scikit-learn's. The population stability
index and the expected calibration error are short formulas over histograms,
written here on reference quantile bins (see Notes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError

__all__ = ["adversarial_auc", "bin_edges", "compare_bundles", "ece", "ks", "paired_session_test", "psi", "session_bands"]

_EPS = 1e-4   # floor of a bin's share in PSI: an empty bin counts as 0.01% (the usual convention)


def bin_edges(reference, n_bins: int = 10) -> np.ndarray:
    """Inner edges of ``n_bins`` quantile bins of the finite values of ``reference`` (ties merged)."""
    x = np.asarray(reference, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.empty(0)
    return np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]))


def _shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    x = x[np.isfinite(x)]
    counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1)
    return counts / max(1, len(x))


def psi(reference, current, n_bins: int = 10, edges: np.ndarray | None = None) -> float:
    """Population stability index of ``current`` against ``reference``.

    Notes
    -----
    ``PSI = sum_b (c_b - r_b) * ln(c_b / r_b)`` over ``n_bins`` quantile bins of
    the reference (``edges``: their inner edges, :func:`bin_edges`), with each
    share floored at 1e-4. Common reading: below 0.1 stable, 0.1-0.25 a moderate
    shift, above 0.25 a major shift (Siddiqi 2006). NaN when either side has no
    finite value.

    References
    ----------
    Siddiqi, N. (2006). *Credit Risk Scorecards*. Wiley, ch. 8.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if not np.isfinite(ref).any() or not np.isfinite(cur).any():
        return float("nan")
    edges = bin_edges(ref, n_bins) if edges is None else np.asarray(edges, dtype=np.float64)
    r = np.maximum(_shares(ref, edges), _EPS)
    c = np.maximum(_shares(cur, edges), _EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def ks(reference, current) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (scipy's ``ks_2samp``, asymptotic p-value: the exact
    one costs seconds at monitoring sizes) over the finite values."""
    from scipy.stats import ks_2samp

    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return float("nan"), float("nan")
    res = ks_2samp(ref, cur, method="asymp")
    return float(res.statistic), float(res.pvalue)


def ece(probability, outcome, n_bins: int = 10) -> float:
    """Expected calibration error: ``sum_b n_b / n * |mean(outcome)_b - mean(probability)_b|``.

    Equal-width bins on [0, 1] (as :func:`sklearn.calibration.calibration_curve`
    with ``strategy="uniform"``), each weighted by its share of the rows. Rows
    with a NaN probability or outcome are dropped; NaN when none is left.

    References
    ----------
    Naeini, M. P., Cooper, G. and Hauskrecht, M. (2015). Obtaining well calibrated
    probabilities using Bayesian binning. *AAAI*.
    """
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(y)
    p, y = p[ok], y[ok]
    if len(p) == 0:
        return float("nan")
    b = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    gap = np.abs(np.bincount(b, weights=y, minlength=n_bins) - np.bincount(b, weights=p, minlength=n_bins))
    return float(gap.sum() / len(p)) if n.sum() else float("nan")


def adversarial_auc(reference: pd.DataFrame | np.ndarray, current: pd.DataFrame | np.ndarray, *,
                    n_splits: int = 3, random_state: int = 0) -> float:
    """Adversarial validation: the cross-validated ROC AUC of a classifier telling ``current`` rows from
    ``reference`` rows (0.5: indistinguishable; 1: fully separated).

    A shallow gradient-boosted classifier (scikit-learn's
    ``HistGradientBoostingClassifier``, which takes NaN) on stratified, shuffled
    folds; the two sets are balanced by subsampling the larger to the smaller.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(current, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ParameterError(f"`reference` and `current` must be 2-D with the same columns, got shapes "
                             f"{a.shape} and {b.shape}.")
    rng = np.random.default_rng(random_state)
    n = min(len(a), len(b))
    if n < 2 * n_splits:
        return float("nan")
    a = a[np.sort(rng.choice(len(a), n, replace=False))]
    b = b[np.sort(rng.choice(len(b), n, replace=False))]
    X = np.vstack([a, b])
    y = np.r_[np.zeros(n), np.ones(n)]
    clf = HistGradientBoostingClassifier(max_iter=50, max_depth=3, learning_rate=0.1, random_state=random_state)
    p = cross_val_predict(clf, X, y, cv=StratifiedKFold(n_splits, shuffle=True, random_state=random_state),
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def session_bands(session_returns, horizons, *, quantiles=(0.05, 0.95), n_draws: int = 2000,
                  random_state: int = 0) -> pd.DataFrame:
    """Bands of the cumulative return over the next ``h`` sessions, by a session-block bootstrap.

    Each draw sums ``h`` session returns drawn with replacement from
    ``session_returns`` (the walk-forward's out-of-sample sessions: each session
    is one block, so the bars' dependence inside a session is kept). Returns one
    row per horizon: the quantiles asked for and the median.
    """
    r = np.asarray(session_returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2:
        raise ParameterError(f"bands need at least 2 out-of-sample session returns, got {len(r)}; register the "
                             "bundle from a walk-forward with more test sessions.")
    rng = np.random.default_rng(random_state)
    rows = {}
    for h in sorted({int(h) for h in horizons}):
        draws = r[rng.integers(0, len(r), size=(n_draws, h))].sum(axis=1)
        rows[h] = {f"q{q:g}": float(np.quantile(draws, q)) for q in (*quantiles, 0.5)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("sessions")


def paired_session_test(champion, challenger) -> dict:
    """Is the challenger better than the champion on the same sessions? A paired test on session returns.

    ``champion``, ``challenger``: per-session returns (Series on the same sessions, or equal-length arrays).
    Returns the sessions compared, the mean difference (challenger - champion), the Sharpe ratio of the
    difference per session, the one-sided p-values of scipy's paired t-test (``ttest_rel``) and Wilcoxon
    signed-rank test for "the challenger earns more", and a one-line verdict. NaN p-values for fewer than
    3 sessions or no difference at all.
    """
    from scipy.stats import ttest_rel, wilcoxon

    if isinstance(champion, pd.Series) and isinstance(challenger, pd.Series):
        both = pd.concat([champion.rename("a"), challenger.rename("b")], axis=1, join="inner").dropna()
        a, b = both["a"].to_numpy(), both["b"].to_numpy()
    else:
        a, b = np.asarray(champion, dtype=np.float64), np.asarray(challenger, dtype=np.float64)
        if a.shape != b.shape:
            raise ParameterError(f"champion and challenger need the same sessions, got {a.shape} and {b.shape}.")
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
    d = b - a
    out = {"sessions": int(len(d)), "mean_difference": float(d.mean()) if len(d) else float("nan"),
           "sharpe_of_difference": float(d.mean() / d.std(ddof=1)) if len(d) > 1 and d.std(ddof=1) > 0
           else float("nan"), "t_test_p": float("nan"), "wilcoxon_p": float("nan")}
    if len(d) >= 3 and np.any(d != 0):
        out["t_test_p"] = float(ttest_rel(b, a, alternative="greater").pvalue)
        out["wilcoxon_p"] = float(wilcoxon(d, alternative="greater", zero_method="zsplit").pvalue)
    p = out["t_test_p"]
    out["verdict"] = ("not enough sessions to compare" if len(d) < 3 else
                      "the same session returns: nothing to choose between them" if not np.any(d != 0) else
                      "no spread in the differences to test" if not np.isfinite(p) else
                      f"challenger better (paired t-test p = {p:.3f})" if p < 0.05 else
                      f"no evidence the challenger is better (paired t-test p = {p:.3f})")
    return out


def compare_bundles(champion, challenger, bars) -> dict:
    """Both bundles backtested on ``bars`` with their own rules and costs, and the paired test of their session
    returns (challenger - champion)."""
    from engines.metrics import daily_returns

    runs = {k: b.backtest(bars) for k, b in (("champion", champion), ("challenger", challenger))}
    sessions = {k: daily_returns(r.returns, champion.calendar) for k, r in runs.items()}
    return {"net_pnl": {k: float(r.metrics.get("net_pnl", float("nan"))) for k, r in runs.items()},
            "n_trades": {k: int(len(r.trades)) for k, r in runs.items()},
            "test": paired_session_test(sessions["champion"], sessions["challenger"])}
