"""Numba kernels of :mod:`risk.limits`: daily loss, trade-count and position limits.

The state of one account is a float64 array of length :data:`N_LIMIT_STATE`
(mutated in place, so it lives happily inside a numba loop or on a
backtrader strategy):

====================  =========================================================
``state[S_SESSION]``   id of the current session (NaN before the first)
``state[S_START_EQ]``  equity at the start of the session
``state[S_TRADES]``    entries so far this session
``state[S_HALTED]``    1.0 once the daily loss limit was reached this session
====================  =========================================================

Limit parameters as the kernels take them (``DailyLimits.kernel_args()``
builds them): ``max_loss`` currency (<= 0 or NaN disables), ``max_loss_frac``
fraction of start-of-session equity (<= 0 or NaN disables; 0.02 means 2%),
``max_trades`` entries per session (<= 0 disables), ``max_position``
absolute contracts (NaN or inf disables).

Definitions
-----------
- Daily loss = start-of-session equity - current equity, with equity marked
  to market (realised + unrealised P&L, net of costs).  The limit is reached
  when the loss is >= ``max_loss`` or >= ``max_loss_frac * start equity``
  (whichever comes first).  From then on the session is halted: no new
  entries for the rest of it, even if equity recovers, and
  :func:`loss_limit_hit_nb` keeps returning True -- the engine's cue to
  flatten (PITFALLS rule 1: decided at bar ``t``'s close, filled at bar
  ``t + 1``'s open).  Reducing or closing a position is always allowed.
- An *entry* is a fill that opens a position from flat or reverses its
  sign; adds to an open position (pyramiding, partial fills of one order)
  are not counted, but they are subject to the halt and the position cap.
- A kernel that sees a session id different from the stored one starts the
  new session itself (as :func:`new_session_reset_nb` with the equity it was
  given); engines should still call :func:`new_session_reset_nb` on the first
  bar of each session with the equity at the session's start.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "N_LIMIT_STATE",
    "S_HALTED",
    "S_SESSION",
    "S_START_EQ",
    "S_TRADES",
    "after_fill_update_nb",
    "can_open_nb",
    "is_entry_nb",
    "loss_limit_hit_nb",
    "new_limits_state_nb",
    "new_session_reset_nb",
]

S_SESSION = 0
S_START_EQ = 1
S_TRADES = 2
S_HALTED = 3
N_LIMIT_STATE = 4

#: Tolerance of the position cap, in contracts (float noise of fractional lots).
_POS_EPS = 1e-9


@njit(cache=True)
def new_limits_state_nb():
    """A fresh state: no session yet, no trades, not halted."""
    state = np.zeros(N_LIMIT_STATE)
    state[S_SESSION] = math.nan
    state[S_START_EQ] = math.nan
    return state


@njit(cache=True)
def new_session_reset_nb(state, session, equity):
    """Start session ``session`` with start-of-session equity ``equity``."""
    state[S_SESSION] = session
    state[S_START_EQ] = equity
    state[S_TRADES] = 0.0
    state[S_HALTED] = 0.0


@njit(cache=True)
def _sync_session_nb(state, session, equity):
    if state[S_SESSION] != session:  # also true for the NaN of a fresh state
        new_session_reset_nb(state, session, equity)


@njit(cache=True)
def loss_limit_hit_nb(state, session, equity, max_loss, max_loss_frac):
    """Whether the session is halted by the daily loss limit (sets the flag when reached).

    True means: no new entries for the rest of ``session``, and the engine
    should flatten any open position.
    """
    _sync_session_nb(state, session, equity)
    if state[S_HALTED] != 0.0:
        return True
    start = state[S_START_EQ]
    loss = start - equity
    hit = False
    if max_loss > 0.0 and loss >= max_loss:
        hit = True
    if max_loss_frac > 0.0 and loss >= max_loss_frac * start:
        hit = True
    if hit:
        state[S_HALTED] = 1.0
    return hit


@njit(cache=True)
def is_entry_nb(position_before, position_after):
    """A fill that opens from flat or reverses the sign of the position."""
    if position_after == 0.0:
        return False
    if position_before == 0.0:
        return True
    return (position_before > 0.0) != (position_after > 0.0)


@njit(cache=True)
def can_open_nb(state, session, equity, position, order_qty,
                max_loss, max_loss_frac, max_trades, max_position):
    """Whether a signed order ``order_qty`` on top of ``position`` is allowed now.

    An order that only reduces or closes the position is always allowed.
    An order that adds exposure (or reverses) is refused when the session is
    halted by the loss limit, when the result would exceed ``max_position``
    contracts in absolute value, and -- if it is an entry (from flat or a
    reversal) -- when ``max_trades`` entries were already made this session.
    """
    new_pos = position + order_qty
    reduces = abs(new_pos) <= abs(position) and not is_entry_nb(position, new_pos)
    if order_qty == 0.0 or reduces:
        return True
    if loss_limit_hit_nb(state, session, equity, max_loss, max_loss_frac):
        return False
    if abs(new_pos) > max_position + _POS_EPS:  # NaN max_position: False, no cap
        return False
    if max_trades > 0 and is_entry_nb(position, new_pos) and state[S_TRADES] >= max_trades:
        return False
    return True


@njit(cache=True)
def after_fill_update_nb(state, session, equity, position_before, position_after):
    """Record a fill; returns the number of entries so far this session."""
    _sync_session_nb(state, session, equity)
    if is_entry_nb(position_before, position_after):
        state[S_TRADES] += 1.0
    return int(state[S_TRADES])
