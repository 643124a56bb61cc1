"""HTML and table helpers of ``python -m runners.sweep``: top-K table, heatmaps, Monte Carlo JSON."""

from __future__ import annotations

import html
import itertools
import math

import numpy as np
import pandas as pd

__all__ = ["TOP_COLUMNS", "heatmaps_html", "monte_carlo_summary", "top_k", "top_k_text"]

#: Metric columns shown in the printed top-K table (all metrics go to ``top_k.csv``).
TOP_COLUMNS = ("sharpe", "sortino", "max_drawdown", "total_return", "n_trades", "win_rate", "profit_factor")


def top_k(result: pd.DataFrame, k: int) -> pd.DataFrame:
    """The ``k`` best combinations by annualised Sharpe (NaN last), parameters as columns, ``rank`` 1..k."""
    flat = result.reset_index()
    order = flat.sort_values("sharpe", ascending=False, na_position="last", kind="mergesort")
    top = order.head(k).reset_index(drop=True)
    top.insert(0, "rank", np.arange(1, len(top) + 1))
    return top


def top_k_text(top: pd.DataFrame, names) -> str:
    """A fixed-width text table of :func:`top_k`'s rows (parameters, then :data:`TOP_COLUMNS`)."""
    cols = ["rank", *names, *[c for c in TOP_COLUMNS if c in top.columns]]
    fmt = {c: (lambda v: f"{v:.4g}") for c in cols}
    for c in ("max_drawdown", "total_return", "win_rate"):
        fmt[c] = lambda v: "nan" if not np.isfinite(v) else f"{100 * v:.2f}%"
    fmt["rank"] = fmt["n_trades"] = lambda v: f"{int(v)}"
    return top[cols].to_string(index=False, formatters=fmt)


def _label(v) -> str:
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def _pivot(flat: pd.DataFrame, a: str, b: str, metric: str) -> pd.DataFrame:
    """``metric``'s best value over the other parameters for every (a, b) pair (rows a, columns b)."""
    best = flat.groupby([a, b], sort=True)[metric].max()
    return best.unstack(b)


def heatmaps_html(result: pd.DataFrame, *, metric: str = "sharpe", title: str = "Parameter sweep",
                  preface: str = "") -> str:
    """One self-contained HTML page of plotly heatmaps (plotly.js included once, works offline).

    For every pair of swept parameters that take at least two values, the
    cell (a, b) shows the best ``metric`` over all the other parameters.
    With a single varying parameter the page shows the best ``metric`` per
    value as a line.
    """
    import plotly.graph_objects as go

    names = [n for n in result.index.names]
    flat = result.reset_index()
    varying = [n for n in names if flat[n].nunique() > 1]
    figures = []
    for a, b in itertools.combinations(varying, 2):
        pv = _pivot(flat, a, b, metric)
        z = pv.to_numpy(dtype=float)
        fig = go.Figure(go.Heatmap(
            z=np.where(np.isfinite(z), z, None), x=[_label(v) for v in pv.columns],
            y=[_label(v) for v in pv.index], colorscale="RdYlGn", zmid=0.0,
            colorbar={"title": metric},
            hovertemplate=f"{b}=%{{x}}<br>{a}=%{{y}}<br>best {metric}=%{{z:.3f}}<extra></extra>"))
        others = [n for n in names if n not in (a, b)]
        sub = f"best over {', '.join(others)}" if others else "one combination per cell"
        fig.update_layout(title=f"{metric}: {a} x {b} ({sub})", xaxis_title=b, yaxis_title=a,
                          xaxis_type="category", yaxis_type="category", height=480, width=720)
        figures.append(fig)
    if not figures:
        for a in varying or names[:1]:
            best = flat.groupby(a, sort=True)[metric].max()
            fig = go.Figure(go.Scatter(x=[_label(v) for v in best.index], y=best.to_numpy(dtype=float),
                                       mode="lines+markers"))
            fig.update_layout(title=f"best {metric} per {a}", xaxis_title=a, yaxis_title=metric,
                              xaxis_type="category", height=420, width=720)
            figures.append(fig)
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figures)]
    n = len(result)
    head = (f"<p>{n:,} combinations of {', '.join(map(html.escape, names))}; "
            f"each cell is the best {html.escape(metric)} (annualised, net of costs) over the parameters "
            f"not on its axes.</p>")
    from runners._report import _CSS

    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.escape(title)
            + f"</title><style>{_CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>" + preface + head + "\n"
            + "\n".join(f"<div>{p}</div>" for p in parts) + "\n</body></html>\n")


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def monte_carlo_summary(mc) -> dict:
    """JSON-ready summary of a :class:`engines.montecarlo.MonteCarloResult`."""
    q = {f"{lv:g}": {k: _num(mc.quantiles.loc[lv, k]) for k in mc.quantiles.columns}
         for lv in mc.quantiles.index}
    draws = {k: {"mean": _num(np.nanmean(v)) if np.isfinite(v).any() else None,
                 "std": _num(np.nanstd(v)) if np.isfinite(v).any() else None}
             for k, v in mc.draws.items()}
    return {"n": int(mc.n), "seed": int(mc.seed), "real": {k: _num(v) for k, v in mc.real.items()},
            "quantiles": q, "draws": draws, "p_values": {k: _num(v) for k, v in mc.p_values.items()},
            "meta": mc.meta}
