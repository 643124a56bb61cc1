"""``report.html``: the KPI scorecard and the ML diagnostics of a walk-forward run.

One self-contained file (inline SVG charts drawn with matplotlib, no script,
no network): a scorecard of measured values against configurable targets,
the backtest metrics, per-fold model metrics, calibration of the predicted
probabilities, feature importance with its stability across folds, and the
equity curve.
"""

from __future__ import annotations

import html
import io
import math
import numbers

import numpy as np
import pandas as pd

from engines.metrics import METRIC_KEYS
from ml._checks import did_you_mean
from ml.exceptions import ParameterError

__all__ = ["DEFAULT_TARGETS", "TARGET_NAMES", "account_notes", "evidence_html", "verdict_line", "calibration_table", "check_targets", "instrument_facts",
           "render_report", "scorecard"]

#: The first user's goals (issue 5): metric -> target.  ``max_drawdown`` is a
#: magnitude (3% = 0.03); lower is better for the names in :data:`LOWER_IS_BETTER`.
DEFAULT_TARGETS = {"win_rate": 0.65, "sharpe": 2.0, "max_drawdown": 0.03, "profit_factor": 2.2,
                   "recovery_factor": 5.0, "decision_latency_ms": 30.0, "deflated_sharpe": 0.95,
                   "permutation_p_value": 0.05}
LOWER_IS_BETTER = ("max_drawdown", "decision_latency_ms", "log_loss", "brier", "permutation_p_value")


#: Names a target may use: the backtest metrics, the run's extra figures and the model metrics.
TARGET_NAMES = (*METRIC_KEYS, "deflated_sharpe", "permutation_p_value", "sharpe_per_session", "decision_latency_ms", "gross_pnl",
                "costs", "net_pnl", "importance_stability", "auc", "log_loss", "accuracy", "brier",
                "selection_jaccard")


def instrument_facts(instrument, calendar, costs, contracts: float) -> dict:
    """Report rows naming the instrument preset, its calendar and the costs assumed."""
    inst = instrument
    size = "fractional" if inst.fractional else f"whole lots of {inst.lot_size:g}"
    return {
        "instrument": f"{inst.name}: {inst.description} ({inst.kind}, {inst.currency}, multiplier "
                      f"{inst.multiplier:g}, tick {inst.tick_size:g} = {inst.tick_value:g} {inst.currency}, {size})",
        "calendar": calendar.describe(),
        "costs": f"{costs.commission_per_contract:g} {inst.currency} per contract + "
                 f"{100 * costs.commission_pct:g}% of notional per side, {costs.slippage_ticks:g} tick(s) "
                 f"slippage" + (f" (preset fees: {inst.fees})" if inst.fees else ""),
        "size per entry": f"{contracts:g}",
    }


def account_notes(metrics: dict, meta: dict) -> list[str]:
    """Notes on the account's fate, the ambiguous exits and the fill order assumed."""
    notes = []
    account = meta.get("account") or {}
    if metrics.get("account_blown"):
        notes.append(f"ACCOUNT BLOWN at {metrics.get('blown_at')} ({account.get('rule', 'equity <= 0')}): "
                     "trading stopped there; the metrics cover the run up to and after that bar, flat.")
    n_amb = int(metrics.get("ambiguous_exits") or 0)
    notes.append(f"Fill order assumed: {meta.get('fill_order') or 'stop before take inside a bar'}. "
                 f"{n_amb} trade(s) exited on a bar that held both the stop and the take "
                 "(column `ambiguous` of trades.csv).")
    refused = meta.get("refused_by_margin")
    if refused:
        notes.append(f"{refused} entr{'y was' if refused == 1 else 'ies were'} refused for want of margin.")
    return notes


def check_targets(targets: dict) -> dict:
    """``targets`` checked before any work: known names, finite numbers."""
    for name, target in targets.items():
        if name not in TARGET_NAMES:
            raise ParameterError(f"target {name!r} is not a measured metric; choose one of "
                                 f"{', '.join(TARGET_NAMES)}.{did_you_mean(name, TARGET_NAMES)}")
        if isinstance(target, bool) or not isinstance(target, numbers.Real) or not math.isfinite(target):
            raise ParameterError(f"target {name!r} must be a finite number, got {target!r}.")
    return dict(targets)


def _measured(metrics: dict, name: str) -> float:
    v = metrics.get(name)
    if v is None:
        v = metrics.get("model", {}).get(name)
    v = float("nan") if v is None else float(v)
    return abs(v) if name == "max_drawdown" else v


#: Targets a blown account fails whatever its figures (its ratios are undefined: NaN).
_ACCOUNT_TARGETS = ("sharpe", "sortino", "calmar", "recovery_factor", "max_drawdown", "total_return",
                    "profit_factor", "win_rate", "deflated_sharpe", "sharpe_per_session", "net_pnl")


def scorecard(metrics: dict, targets: dict) -> list[dict]:
    """One row per target: ``name``, ``target``, ``op``, ``measured``, ``met``, ``status``.

    ``targets`` maps metric names (of ``metrics`` or ``metrics["model"]``) to
    numbers.  ``status`` is ``"met"``, ``"not met"`` or ``"not measured"``
    (NaN / missing, e.g. latency not timed): never counted as met.  An
    infinite value (profit factor without losing trades) is compared as is.
    """
    rows = []
    for name, target in check_targets(targets).items():
        low = name in LOWER_IS_BETTER
        op = "<" if name == "decision_latency_ms" else ("<=" if low else ">=")
        value = _measured(metrics, name)
        measured = not math.isnan(value)
        met = bool(measured and (value < target if op == "<" else value <= target if low else value >= target))
        status = "not measured" if not measured else "met" if met else "not met"
        if metrics.get("account_blown") and name in _ACCOUNT_TARGETS:
            met, status = False, "not met (account blown)"
        rows.append({"name": name, "op": op, "target": float(target), "measured": value, "met": met,
                     "status": status})
    return rows


def calibration_table(p: pd.Series, hit: pd.Series, bins: int = 10) -> pd.DataFrame:
    """Predicted probability against observed frequency in ``bins`` equal-width bins."""
    ok = p.notna() & hit.notna()
    p, hit = p[ok].astype(float), hit[ok].astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    b = np.clip(np.digitize(p.to_numpy(), edges[1:-1]), 0, bins - 1)
    df = pd.DataFrame({"bin": b, "p": p.to_numpy(), "hit": hit.to_numpy()})
    out = df.groupby("bin").agg(predicted=("p", "mean"), observed=("hit", "mean"), count=("p", "size"))
    out.index = [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in out.index]
    out.index.name = "bin"
    return out


# --------------------------------------------------------------------------- rendering

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} td,th{border:1px solid #ddd;padding:.3em .6em;
text-align:right} th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
.met{color:#0a7d27;font-weight:600} .miss{color:#b3261e;font-weight:600} .note{color:#555;font-size:.9em}
.grid{display:flex;flex-wrap:wrap;gap:1.5em} .facts td{text-align:left}
.verdict{font-size:1.2em;font-weight:700;padding:.5em .8em;border-left:6px solid #555;background:#f7f7f7}
"""


def _fmt(v, pct=False) -> str:
    if isinstance(v, float) and math.isinf(v):
        return "&infin;" if v > 0 else "-&infin;"
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if isinstance(v, numbers.Real):
        return f"{100 * float(v):.2f}%" if pct else f"{float(v):,.4g}"
    return html.escape(str(v))


_PCT = ("win_rate", "max_drawdown", "total_return", "annualized_return", "annualized_volatility", "exposure",
        "accuracy")


def _table(rows: list[list], header: list[str], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def _frame(df: pd.DataFrame) -> str:
    rows = [[html.escape(str(i))] + [_fmt(v) for v in r] for i, r in zip(df.index, df.itertuples(index=False))]
    return _table(rows, [str(df.index.name or "")] + [str(c) for c in df.columns])


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})  # same run, same file
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _charts(equity: pd.Series, calib: pd.DataFrame, importance: pd.Series) -> dict:
    import matplotlib

    matplotlib.use("Agg", force=False)
    matplotlib.rcParams["svg.hashsalt"] = "report"
    import logging

    import matplotlib.pyplot as plt

    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    out = {}
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    dd = equity / equity.cummax() - 1
    step = max(1, len(equity) // 1500)            # a light chart: every step-th bar (and the worst drawdowns)
    keep = np.unique(np.concatenate([np.arange(0, len(equity), step), [len(equity) - 1],
                                     np.argsort(dd.to_numpy())[:50]]))
    equity, dd = equity.iloc[keep], dd.iloc[keep]
    x = keep
    a1.plot(x, equity.to_numpy(), lw=1, color="#1f5fa8")
    a1.set_ylabel("equity")
    a2.fill_between(x, dd.to_numpy(), 0, color="#b3261e", alpha=0.5, lw=0)
    a2.set_ylabel("drawdown")
    a2.set_xlabel("bar (out-of-sample)")
    out["equity"] = _svg(fig)
    if len(calib):
        fig, ax = plt.subplots(figsize=(4.2, 4.2))
        ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1)
        ax.plot(calib["predicted"], calib["observed"], marker="o", color="#1f5fa8")
        ax.set_xlabel("predicted P(up)")
        ax.set_ylabel("observed up frequency")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        out["calibration"] = _svg(fig)
    if len(importance):
        top = importance.head(20)[::-1]
        fig, ax = plt.subplots(figsize=(5.5, 0.25 * len(top) + 0.8))
        ax.barh(top.index, top.to_numpy(), color="#1f5fa8")
        ax.set_xlabel("mean importance over folds")
        out["importance"] = _svg(fig)
    return out


def verdict_line(evidence: dict) -> str:
    """The verdict and its numbers in one line (terminal summary, log)."""
    v, auc = evidence["verdict"], evidence["traded_auc"]
    dsr = v.get("deflated_sharpe")
    p = v.get("permutation_p_value")
    return (f"verdict: {v['verdict']} (deflated Sharpe {_plain(dsr)} over {v['n_trials']} trial(s); "
            f"{v.get('p_value_basis', 'permutation')} p-value {_plain(p, 3) if p is not None else 'not run'}; traded AUC {_plain(auc['auc'], 3)} "
            f"[{_plain(auc['ci_low'], 3)}, {_plain(auc['ci_high'], 3)}]; net {_plain(v['net_pnl'], 0)}, "
            f"frictionless {_plain(v['gross_pnl'], 0)})")


def _plain(v, digits=2) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:,.{digits}f}"


def evidence_html(evidence: dict, currency: str = "") -> str:
    """The verdict, its reason and rules, and the evidence table, as HTML (report pages lead with it)."""
    v, auc, free, be = (evidence["verdict"], evidence["traded_auc"], evidence["frictionless"],
                        evidence["break_even_cost"])
    rows = [
        ["traded probability's AUC (up vs down labels)", f"{_plain(auc['auc'], 3)} "
         f"[{_plain(auc['ci_low'], 3)}, {_plain(auc['ci_high'], 3)}] ({100 * auc['level']:g}% interval, "
         f"{html.escape(auc['bootstrap'])}; {auc['n']:,} rows)"],
        ["spread of that AUC across folds", f"{_plain(auc.get('fold_sd'), 3)} (pure noise with the same fold "
         f"sizes: {_plain(auc.get('noise_fold_sd'), 3)} for independent rows; overlapping labels widen it)"],
        ["deflated Sharpe ratio", f"{_plain(v.get('deflated_sharpe'))} over {v['n_trials']} trial(s)"],
        [f"{html.escape(v.get('p_value_basis', 'permutation'))} p-value", _plain(v["permutation_p_value"], 3) if v["permutation_p_value"] is not None
         else "not run"],
        ["net P&amp;L (after fees and slippage)", f"{_plain(v['net_pnl'], 0)} {currency}"],
        ["frictionless P&amp;L (no fees, no slippage)", f"{_plain(free['pnl'], 0)} {currency}, Sharpe "
         f"{_plain(free['sharpe'])}, PSR {_plain(free.get('psr'))}"],
        ["break-even cost per round trip and contract", f"{_plain(be['per_round_trip'])} {currency} "
         f"({_plain(be['ticks'])} ticks)"],
    ]
    page = (f"<p class='verdict'>Verdict: {html.escape(v['verdict'])}</p>"
            f"<p class='note'>{html.escape(v['why'])}. Rules: {html.escape(v['rules'])}</p>"
            + _table([[r[0], r[1]] for r in rows], ["evidence", ""], "facts"))
    base = evidence.get("baselines")
    if base and base.get("baselines"):
        model = base["model"]
        table = [["the model", _plain(model["auc"], 3), _plain(model["sharpe_per_session"], 3),
                  f"{_plain(model['net_pnl'], 0)} {currency}", f"{model['n_trades']:,}", ""]]
        for name, b in base["baselines"].items():
            table.append([html.escape(b["what"]), _plain(b["auc"], 3), _plain(b["sharpe_per_session"], 3),
                          f"{_plain(b['net_pnl'], 0)} {currency}", f"{b['n_trades']:,}",
                          "yes" if base["beats"][name] else "no"])
        picked = sorted(set(base.get("features_by_fold", {}).values()))
        page += (f"<p class='verdict'>{html.escape(baselines_line(base))}</p>"
                 + _table(table, ["signal", "traded AUC", "net Sharpe per session", "net P&amp;L", "trades",
                                  "model beats it"], "facts")
                 + f"<p class='note'>{html.escape(base['rule'])}. Best training-fold feature(s): "
                   f"{html.escape(', '.join(picked) or 'none')}.</p>")
    return page


def baselines_line(base: dict) -> str:
    """Whether the model beats the simple baselines, in one line."""
    def sharpe(b) -> str:
        return "no trades" if not b.get("n_trades") else f"Sharpe/session {_plain(b['sharpe_per_session'], 3)}"

    parts = [f"{name.replace('_', ' ')} AUC {_plain(b['auc'], 3)}, {sharpe(b)}" for name, b in base["baselines"].items()]
    m = base["model"]
    head = "the ML model beats the simple baselines" if base["model_beats_baselines"] else \
        "the ML model does NOT beat the simple baselines"
    return (f"{head} (model AUC {_plain(m['auc'], 3)}, {sharpe(m)}; "
            + "; ".join(parts) + ")")


def render_report(*, title: str, facts: dict, score: list[dict], backtest: dict, model: dict,
                  fold_metrics: pd.DataFrame, calibration: pd.DataFrame, calibration_traded: pd.DataFrame,
                  importance: pd.DataFrame,
                  selection_frequency: pd.Series, stability: dict, equity: pd.Series, notes: list[str],
                  evidence: dict | None = None, currency: str = "", extra: str = "") -> str:
    """The HTML text of ``report.html``; ``evidence`` (verdict, traded AUC, frictionless run,
    break-even cost) comes first; ``extra`` (HTML sections) comes before the notes."""
    mean_imp = importance.mean(axis=1, skipna=True).sort_values(ascending=False).dropna()
    charts = _charts(equity, calibration, mean_imp)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if evidence is not None:
        parts.append(evidence_html(evidence, currency))
    parts.append(_table([[html.escape(k), _fmt(v)] for k, v in facts.items()], ["run", ""], "facts"))

    n_met = sum(r["met"] for r in score)
    n_measured = sum(r["status"] != "not measured" for r in score)
    parts.append(f"<h2>KPI scorecard: {n_met} of {n_measured} measured targets met</h2>")
    css = {"met": "met", "not met": "miss", "not measured": "note", "not met (account blown)": "miss"}
    rows = [[html.escape(r["name"]), f"{html.escape(r['op'])} {_fmt(r['target'], r['name'] in _PCT)}",
             _fmt(r["measured"], r["name"] in _PCT), f"<span class='{css[r['status']]}'>{r['status']}</span>"]
            for r in score]
    parts.append(_table(rows, ["metric", "target", "measured", "status"]))
    parts.append("<p class='note'>Targets come from the run's settings (<code>--target NAME=VALUE</code> or "
                 "<code>[targets]</code> in the config file). Maximum drawdown is compared as a magnitude.</p>")

    parts.append("<h2>Backtest (out-of-sample bars only)</h2>")
    parts.append(_table([[html.escape(k), _fmt(v, k in _PCT)] for k, v in backtest.items()], ["metric", "value"]))
    parts.append(charts["equity"])

    parts.append("<h2>Model, out of sample</h2>")
    parts.append(_table([[html.escape(k), _fmt(v, k in _PCT)] for k, v in model.items()], ["metric", "value"]))
    parts.append("<h3>Per fold</h3>")
    parts.append(_frame(fold_metrics))

    parts.append("<h2>Calibration of P(up)</h2><div class='grid'>")
    parts.append(_frame(calibration) if len(calibration) else "<p>No labelled predictions.</p>")
    parts.append(charts.get("calibration", ""))
    parts.append("</div>")
    parts.append("<h3>Calibration of the traded probability (up among up / down labels)</h3>")
    parts.append(_frame(calibration_traded) if len(calibration_traded) else "<p>No directional labels.</p>")

    parts.append("<h2>Feature importance and its stability</h2>")
    parts.append(f"<p>Mean Spearman rank correlation of importance between folds (on shared features): "
                 f"<b>{_fmt(stability.get('mean'))}</b>; mean Jaccard overlap of the folds' selections: "
                 f"<b>{_fmt(model.get('selection_jaccard'))}</b>.</p><div class='grid'>")
    top = pd.DataFrame({"mean importance": mean_imp,
                        "selected in folds": selection_frequency.reindex(mean_imp.index)}).head(25)
    top.index.name = "feature"
    parts.append(_frame(top))
    parts.append(charts.get("importance", ""))
    parts.append("</div>")

    parts.append(extra)
    parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
