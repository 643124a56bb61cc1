"""Running strategies: simulation, vectorbt and backtrader engines, metrics, overfitting statistics.

Import the sub-modules you need (they are kept separate so that ``engines.metrics``
does not pull in vectorbt or backtrader):

- :mod:`engines.metrics` -- the one definition of every performance metric
  (annualisation from the session calendar, session-aware daily returns).
- :mod:`engines.overfit` -- deflated Sharpe ratio, probability of backtest overfitting.
- :mod:`engines.simulate` -- the numba single-run simulator (next-open fills,
  stops, costs with the contract multiplier, daily limits) and its pandas API.
- :mod:`engines.vbt` -- the same fills rebuilt as a ``vectorbt.Portfolio``.
- :mod:`engines.sweep` -- parameter grids in one numba call (``sweep``,
  ``grid_from_spec``, ``rerun`` for the top-K tier).
- :mod:`engines.bt` -- the same decisions in backtrader (``run_backtrader``),
  with futures commissions, slippage, participation limits and market impact.
- :mod:`engines.montecarlo` -- trade and block bootstraps, random-entry null.
- :mod:`engines.report` -- quantstats tearsheet from session returns, metrics JSON.
"""
