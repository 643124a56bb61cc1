"""Running strategies: simulation, vectorbt and backtrader engines, metrics, overfitting statistics.

Import the sub-modules you need (they are kept separate so that ``engines.metrics``
does not pull in vectorbt or backtrader):

- :mod:`engines.metrics` -- the one definition of every performance metric
  (annualisation from the session calendar, session-aware daily returns).
- :mod:`engines.overfit` -- deflated Sharpe ratio, probability of backtest overfitting.
- :mod:`engines.simulate` -- the numba single-run simulator (next-open fills,
  stops, costs with the contract multiplier, daily limits) and its pandas API.
- :mod:`engines.vbt` -- the same fills rebuilt as a ``vectorbt.Portfolio``.
"""
