"""What the strategy trades, measured honestly, and a plain verdict on the evidence.

- :func:`traded_auc`: the AUC of the probability the strategy trades against the
  up / down labels, with a session-block bootstrap confidence interval, its spread
  across folds, and the spread the same fold sizes show on pure noise.
- :func:`frictionless_run`: the same sides in the simulator with no fees and no
  slippage, and :func:`closed_pnl`, the profit of the closed trades.
- :func:`break_even_cost`: the cost per round trip and contract at which a
  frictionless run's profit is gone.
- :func:`verdict`: one of :data:`VERDICTS`, from the deflated Sharpe ratio, the AUC
  interval, an optional permutation p-value and the gross (no fees, no slippage)
  and net results, with the numbers and the rule that decided it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError

__all__ = ["DSR_LEVEL", "P_LEVEL", "RULES", "VERDICTS", "break_even_cost", "closed_pnl", "frictionless_run",
           "null_auc_sd", "permutation_p_value",
           "permutation_test", "traded_auc", "verdict"]

#: The three verdicts, in order of evidence.
VERDICTS = ("no evidence of an edge", "an edge before costs that costs remove", "evidence of an edge after costs")
#: Deflated Sharpe ratio needed to call the net result evidence (a 95% probability that the
#: true Sharpe ratio exceeds the best of the trials' expected maximum by chance).
DSR_LEVEL = 0.95
#: Largest permutation p-value that counts as evidence.
P_LEVEL = 0.05
#: The rules of :func:`verdict`, in words (``metrics.json`` and the README carry them).
RULES = (f"'{VERDICTS[2]}': net profit, deflated Sharpe ratio >= {DSR_LEVEL}, the traded probability's AUC "
         f"interval above 0.5, and the permutation p-value <= {P_LEVEL} when the test was run. "
         f"'{VERDICTS[1]}': otherwise, if the AUC interval lies above 0.5, or the frictionless run (no fees, "
         f"no slippage) is profitable with a probabilistic Sharpe ratio >= {DSR_LEVEL} and the traded AUC "
         f"itself is above 0.5 (a frictionless profit the traded probability's ranking does not back is "
         f"luck: 2 of 20 no-edge markets in the honesty study had a frictionless PSR above 0.999). "
         f"'{VERDICTS[0]}': otherwise, and whenever the account was blown.")


def _auc(score: np.ndarray, up: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count one half); NaN without both classes."""
    n1 = int(up.sum())
    n0 = len(up) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[up].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def null_auc_sd(n_up: int, n_down: int) -> float:
    """Standard deviation of the AUC of a score unrelated to the labels (Mann-Whitney null):
    ``sqrt((n_up + n_down + 1) / (12 n_up n_down))``."""
    if n_up <= 0 or n_down <= 0:
        return float("nan")
    return math.sqrt((n_up + n_down + 1) / (12.0 * n_up * n_down))


def traded_auc(probability, label, session, fold=None, *, n_boot: int = 1000, level: float = 0.95,
               seed: int = 0) -> dict:
    """AUC of the traded probability on the up / down labels, with a session-block bootstrap CI.

    Parameters
    ----------
    probability : array-like
        What the strategy trades (e.g. ``P(up) / (P(up) + P(down))``).
    label : array-like
        Labels; only rows labelled up (> 0) or down (< 0) count (time-outs and
        NaN are left out: the traded probability is a direction).
    session : array-like
        Session of each row: the bootstrap resamples whole sessions, so that the
        interval respects the dependence of bars within a session.
    fold : array-like, optional
        Walk-forward fold of each row, for the per-fold AUCs and their spread.
    n_boot, level, seed
        Bootstrap replications, interval level and seed.

    Returns
    -------
    dict
        ``auc``, ``ci_low``, ``ci_high``, ``level``, ``n`` (directional rows),
        ``n_sessions``; with ``fold``: ``per_fold``, ``fold_sd`` and
        ``noise_fold_sd`` (the spread the same fold sizes show on noise).
    """
    p = np.asarray(probability, dtype=np.float64)
    lab = np.asarray(label, dtype=np.float64)
    ses = np.asarray(session)
    if not (len(p) == len(lab) == len(ses)):
        raise ParameterError(f"`probability`, `label` and `session` must have one value per row, got "
                             f"{len(p)}, {len(lab)} and {len(ses)}.")
    if not (isinstance(n_boot, numbers.Integral) and n_boot >= 0) or not 0 < level < 1:
        raise ParameterError(f"`n_boot` must be an int >= 0 and `level` in (0, 1), got {n_boot!r}, {level!r}.")
    keep = np.isfinite(p) & np.isfinite(lab) & (lab != 0)
    p, up, ses = p[keep], lab[keep] > 0, ses[keep]
    out = {"auc": _auc(p, up), "ci_low": float("nan"), "ci_high": float("nan"), "level": float(level),
           "n": int(keep.sum()), "n_up": int(up.sum()), "n_sessions": int(len(pd.unique(ses))),
           "bootstrap": f"{n_boot} resamples of whole sessions"}
    if n_boot and out["n_sessions"] >= 2 and np.isfinite(out["auc"]):
        codes, uniq = pd.factorize(ses)
        rows = [np.flatnonzero(codes == k) for k in range(len(uniq))]
        rng = np.random.default_rng(seed)
        boots = np.empty(n_boot)
        for b in range(n_boot):
            pick = rng.integers(0, len(rows), len(rows))
            idx = np.concatenate([rows[k] for k in pick])
            boots[b] = _auc(p[idx], up[idx])
        boots = boots[np.isfinite(boots)]
        a = (1 - level) / 2
        out["ci_low"], out["ci_high"] = (float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a)))
    if fold is not None:
        f = np.asarray(fold)[keep]
        per = {}
        noise = []
        for k in pd.unique(f):
            m = f == k
            per[str(k)] = _auc(p[m], up[m])
            noise.append(null_auc_sd(int(up[m].sum()), int((~up[m]).sum())))
        vals = np.array([v for v in per.values() if np.isfinite(v)])
        out["per_fold"] = per
        out["fold_sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")
        noise = np.array([v for v in noise if np.isfinite(v)])
        out["noise_fold_sd"] = float(np.sqrt(np.mean(noise ** 2))) if len(noise) else float("nan")
    return out


def closed_pnl(trades: pd.DataFrame) -> float:
    """The profit of the closed trades of a trade table (an engine result's ``trades``)."""
    if not len(trades):
        return 0.0
    return float(trades.loc[trades["closed"], "pnl"].sum())


def frictionless_run(bars: pd.DataFrame, sides, **simulate_kwargs) -> tuple:
    """``(result, summary)``: ``sides`` on ``bars`` in the simulator with no commission and
    no slippage (``costs=Costs()``), all else as in ``simulate_kwargs``.

    ``summary`` holds the closed trades' ``pnl`` and the contracts traded in and out
    (``round_trips``, the sum of ``|qty|`` of the closed trades), which
    :func:`break_even_cost` takes, and the run's ``sharpe``, ``total_return`` and
    ``n_trades``.
    """
    from engines.simulate import Costs, simulate

    if "costs" in simulate_kwargs:
        raise ParameterError("frictionless_run sets `costs` itself (no commission, no slippage).")
    free = simulate(bars, sides, costs=Costs(), **simulate_kwargs)
    closed = free.trades[free.trades["closed"]] if len(free.trades) else free.trades
    return free, {"sharpe": free.metrics["sharpe"], "total_return": free.metrics["total_return"],
                  "pnl": closed_pnl(free.trades), "n_trades": free.metrics["n_trades"],
                  "round_trips": float(closed["qty"].abs().sum()) if len(closed) else 0.0}


def break_even_cost(frictionless_pnl: float, round_trips: float, tick_value: float | None = None) -> dict:
    """The cost per round trip and contract that a frictionless run's profit can pay.

    ``frictionless_pnl`` is the profit with no fees and no slippage, ``round_trips``
    the contracts traded in and out (sum of ``|qty|`` of the closed trades).
    Negative: no cost is low enough.
    """
    if round_trips <= 0:
        return {"per_round_trip": float("nan"), "ticks": float("nan"), "round_trips": float(round_trips)}
    per = float(frictionless_pnl) / float(round_trips)
    ticks = per / tick_value if tick_value else float("nan")
    return {"per_round_trip": per, "ticks": ticks, "round_trips": float(round_trips)}


def verdict(*, dsr: float | None, n_trials: int, auc: dict, net_pnl: float, gross_pnl: float,
            gross_psr: float | None = None, p_value: float | None = None, blown: bool = False,
            p_basis: str = "permutation") -> dict:
    """A plain verdict on the evidence, with the numbers and the rule that decided it.

    ``p_value`` is a null-test p-value of the run (``None``: not run); ``p_basis``
    names its null in a few words, e.g. ``"permutation"`` (the whole pipeline
    re-run on permuted bars, :func:`permutation_test`) or ``"best-of-grid null"``
    (a sweep's best against the best of the grid on uninformative
    probabilities, :func:`engines.sweep.best_of_grid_null`).

    Rules (in order):

    1. **evidence of an edge after costs**: the net result is positive, the
       deflated Sharpe ratio is at least :data:`DSR_LEVEL`, the traded AUC's
       interval lies above 0.5, and the permutation p-value (when run) is at
       most :data:`P_LEVEL`;
    2. **an edge before costs that costs remove**: not 1, but the traded AUC's
       interval lies above 0.5, or the frictionless (no fees, no slippage)
       result is positive with a probabilistic Sharpe ratio of at least
       :data:`DSR_LEVEL` *and* a traded AUC above 0.5 -- the signal is real,
       the costs eat it.  A frictionless profit the traded probability does not
       rank for is not counted: on session returns of a few dozen trades the
       PSR is far from calibrated (2 of 20 no-edge markets of the honesty study
       reached 0.999);
    3. **no evidence of an edge** otherwise (and always when the account blew).
    """
    auc_low = auc.get("ci_low", float("nan"))
    signal = bool(np.isfinite(auc_low) and auc_low > 0.5)
    dsr_ok = dsr is not None and np.isfinite(dsr) and dsr >= DSR_LEVEL
    perm_ok = p_value is None or (np.isfinite(p_value) and p_value <= P_LEVEL)
    auc_up = bool(np.isfinite(auc.get("auc", float("nan"))) and auc["auc"] > 0.5)
    gross_ok = (gross_pnl > 0 and gross_psr is not None and np.isfinite(gross_psr) and gross_psr >= DSR_LEVEL
                and auc_up)
    if not blown and net_pnl > 0 and dsr_ok and signal and perm_ok:
        v, why = VERDICTS[2], (f"net profit, deflated Sharpe {dsr:.2f} >= {DSR_LEVEL} over {n_trials} trial(s), "
                               f"AUC interval above 0.5" + ("" if p_value is None else f", {p_basis} p = {p_value:.3f}"))
    elif not blown and (gross_ok or signal):
        v, why = VERDICTS[1], ("the signal holds before costs (" + ", ".join(
            s for s in (f"frictionless PSR {gross_psr:.2f}" if gross_ok else "",
                        f"AUC interval [{auc_low:.3f}, {auc.get('ci_high', float('nan')):.3f}] above 0.5"
                        if signal else "") if s) + ") but not after them")
    else:
        v = VERDICTS[0]
        why = ("the account was blown" if blown else
               f"AUC interval [{auc_low:.3f}, {auc.get('ci_high', float('nan')):.3f}] includes 0.5 and the "
               "frictionless result is not significant" + ("" if auc_up else " or not backed by a traded AUC "
                                                            "above 0.5"))
    return {"verdict": v, "why": why, "deflated_sharpe": dsr, "n_trials": int(n_trials),
            "permutation_p_value": p_value, "p_value_basis": p_basis, "auc": auc.get("auc"), "auc_ci": [auc_low, auc.get("ci_high")],
            "gross_pnl": float(gross_pnl), "net_pnl": float(net_pnl), "frictionless_psr": gross_psr,
            "rules": RULES}


# --------------------------------------------------------------------------- permutation test


def permutation_p_value(observed: float, null) -> float:
    """``(1 + #{null >= observed}) / (N + 1)``: the Monte Carlo permutation p-value
    (never 0: the observed run is one of the N + 1 equally likely orderings under the null).
    NaN null values count as not exceeding; a NaN observation gives NaN."""
    null = np.asarray(null, dtype=np.float64)
    if not np.isfinite(observed):
        return float("nan")
    return float((1 + int(np.sum(null >= observed))) / (len(null) + 1))


def permutation_test(bars: pd.DataFrame, evaluate, n: int, *, seed: int = 0, n_jobs: int = 1, checkpoint=None,
                     method: str = "permute") -> dict:
    """Re-run a whole pipeline on ``n`` within-session permutations of ``bars``.

    Parameters
    ----------
    bars : DataFrame
        The real bars.
    evaluate : callable
        ``evaluate(bars) -> dict`` of statistics (e.g. ``{"sharpe": ..., "auc": ...}``): the
        whole pipeline -- features, selection, fit, strategy, backtest with costs.  Must be
        picklable (a module-level function or a ``functools.partial`` of one) for ``n_jobs > 1``.
    n : int
        Permutations.
    seed : int
        Permutation ``i`` is :func:`ml.data.no_edge_bars` with seed ``seed + i + 1`` (and
        ``method``): the same seed gives the same null, whatever ``n_jobs``.
    n_jobs : int
        Permutations run in parallel through joblib.
    checkpoint : str or Path, optional
        Folder where each finished permutation's statistics are saved (``perm-<i>.json``); a
        later call reuses them, so an interrupted test resumes.

    Returns
    -------
    dict
        ``null`` (statistic -> list of the permutations' values), ``n``, ``reused``, ``method``.
    """
    import json
    from pathlib import Path

    from joblib import Parallel, delayed

    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ParameterError(f"`n` (permutations) must be an int >= 1, got {n!r}.")
    folder = Path(checkpoint) if checkpoint is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    done, todo = {}, []
    for i in range(int(n)):
        path = folder / f"perm-{i:04d}.json" if folder is not None else None
        if path is not None and path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                if saved.get("seed") == seed + i + 1 and saved.get("method") == method:
                    done[i] = saved["stats"]
                    continue
            except (ValueError, KeyError, TypeError):
                pass
        todo.append(i)
    new = Parallel(n_jobs=n_jobs)(delayed(_one_permutation)(bars, evaluate, seed + i + 1, method, folder, i)
                                  for i in todo)
    done.update(zip(todo, new))
    stats = [done[i] for i in range(int(n))]
    keys = sorted({k for s in stats for k in s})
    return {"null": {k: [s.get(k) for s in stats] for k in keys}, "n": int(n), "reused": len(done) - len(todo),
            "method": f"{method} the bars within each session (ml.data.no_edge_bars), seeds {seed + 1}.."
                      f"{seed + n}; the whole pipeline re-run on each"}


def _one_permutation(bars, evaluate, seed, method, folder, i):
    import json

    from ml.data import no_edge_bars

    stats = {k: (None if v is None or not np.isfinite(v) else float(v))
             for k, v in dict(evaluate(no_edge_bars(bars, seed=seed, method=method))).items()}
    if folder is not None:
        tmp = folder / f".perm-{i:04d}.json.tmp"
        tmp.write_text(json.dumps({"seed": seed, "method": method, "stats": stats}), encoding="utf-8")
        tmp.replace(folder / f"perm-{i:04d}.json")
    return stats
