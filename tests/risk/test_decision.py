"""``risk._decision_nb.decide_nb``: the decision step of the simulator and of backtrader, and its twin.

Exhaustive over its small domain against the plain-Python twin, and the
precedence rules by hand (PITFALLS 13 for the session end and re-arm).
"""

from __future__ import annotations

import itertools

from risk._decision_nb import EXIT_BLOWN, EXIT_LIMIT, EXIT_SESSION, EXIT_SIGNAL, EXIT_TIME, decide_nb
from risk._py import decide_py


def test_the_kernel_equals_its_twin_everywhere():
    sides = (-1, 0, 1)
    for args in itertools.product(sides, sides, sides, (False, True), (False, True), (False, True),
                                  (False, True), (False, True)):
        assert tuple(decide_nb(*args)) == tuple(decide_py(*args)), args


def test_precedence_by_hand():
    # nothing forced: the strategy's side, reason signal
    assert tuple(decide_nb(1, 0, 0, True, False, False, False, False)) == (1, EXIT_SIGNAL, 0)
    # time stop on a held long: flat, reason time, and the long is blocked until the side changes
    assert tuple(decide_nb(1, 1, 0, True, True, True, False, False)) == (0, EXIT_TIME, 1)
    # a blocked long stays flat while the strategy still wants long; released once it does not
    assert tuple(decide_nb(1, 0, 1, True, False, False, False, False)) == (0, EXIT_SIGNAL, 1)
    assert tuple(decide_nb(-1, 0, 1, True, False, False, False, False)) == (-1, EXIT_SIGNAL, 0)
    # the limit halts: the held side leaves (limit) and nothing opens
    assert tuple(decide_nb(1, 1, 0, False, False, True, False, False)) == (0, EXIT_LIMIT, 0)
    assert tuple(decide_nb(-1, 0, 0, True, False, True, False, False)) == (0, EXIT_SIGNAL, 0)
    # session end with fills at the close
    assert tuple(decide_nb(1, 1, 0, True, False, False, True, False)) == (0, EXIT_SESSION, 1)
    # blown: flat for good, reason blown while something is held
    assert tuple(decide_nb(1, 1, 0, True, False, False, False, True)) == (0, EXIT_BLOWN, 0)
    assert tuple(decide_nb(1, 0, 0, True, False, False, False, True)) == (0, EXIT_SIGNAL, 0)
