"""The per-bar decision every engine takes: what the strategy wants, overridden by the risk rules.

One definition, :func:`decide_nb`, called by the simulator's kernel
(:func:`engines._sim_nb.simulate_into_nb`) and the backtrader strategy
(:mod:`engines.bt._strategy`); its plain-Python twin is
:func:`risk._py.decide_py` (the pure-Python simulator's).  The exit reason
codes live here with it (the simulator re-exports them).
"""

from __future__ import annotations

from numba import njit

from risk._stops_nb import EXIT_STOP, EXIT_TAKE

__all__ = ["EXIT_BLOWN", "EXIT_END", "EXIT_LIMIT", "EXIT_SESSION", "EXIT_SIGNAL", "EXIT_STOP", "EXIT_TAKE",
           "EXIT_TIME", "decide_nb"]

EXIT_SIGNAL = 0
EXIT_TIME = 3
EXIT_SESSION = 4
EXIT_LIMIT = 5
EXIT_END = 6
EXIT_BLOWN = 7


@njit(cache=True, inline="always")
def decide_nb(desired, cs, blocked, rearm, time_up, halted, session_end, blown):
    """The side to hold after this bar, the exit reason, and the re-arm block.

    Parameters
    ----------
    desired : int
        The strategy's side for this bar (+1, 0, -1).
    cs : int
        The side held now (after this bar's fills).
    blocked : int
        The side a forced exit closed (re-arm): not taken again until the
        strategy's side has changed; 0 when none.
    rearm : bool
    time_up, halted, session_end, blown : bool
        The time stop is due; the daily loss limit halted the session; the
        position must leave now because the session ends (``fill_on_close``
        on its last bar); the account is blown.

    Returns
    -------
    (desired, reason, blocked)
        In this order of precedence: the re-arm block; a forced exit of the
        held side (time, then limit, then session end), which re-arms; no
        entry while halted or at the session end; flat once blown
        (:data:`EXIT_BLOWN` when something is held).
    """
    if blocked != 0:
        if desired != blocked:
            blocked = 0
        else:
            desired = 0
    reason = EXIT_SIGNAL
    if cs != 0 and desired == cs:
        if time_up:
            reason = EXIT_TIME
            desired = 0
        elif halted:
            reason = EXIT_LIMIT
            desired = 0
        elif session_end:
            reason = EXIT_SESSION
            desired = 0
        if desired == 0 and rearm:
            blocked = cs
    if halted or session_end:
        desired = 0
    if blown:
        if cs != 0:
            reason = EXIT_BLOWN
        desired = 0
    return desired, reason, blocked
