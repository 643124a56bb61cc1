"""Backtest engines: vectorbt (vectorized sweeps) and backtrader (event-accurate)."""
