"""The quantstats tearsheet of a losing run, opened in headless Chromium (issue 12, item 8).

The page must load without a script error (quantstats' template called an undefined
``save()``), and what a reader sees must be right: a Max Drawdown with a number, a
Worst 10 Drawdowns table with rows, Time in Market as the share of bars holding a
position, and the basis note.  The browser is Debian's ``chromium`` driven by
Playwright's Python package (no browser download): the README's test command and
``.ci/run`` install both.
"""

from __future__ import annotations

import numpy as np

from tests._browser import chromium_page


def test_losing_tearsheet_in_headless_chromium(losing_tearsheet):
    res, path = losing_tearsheet
    with chromium_page() as (page, errors):
        page.goto(path.as_uri(), wait_until="load")

        def cell(name):
            return page.locator(f"tr:has(td:text-is('{name}')) td").nth(1).inner_text().strip()

        max_dd = cell("Max Drawdown")
        in_market = cell("Time in Market")
        dd_rows = page.locator("#ddinfo tbody tr").count()
        basis = page.locator("p.basis").first.inner_text()
        svg_count = page.locator("#left svg").count()
    assert errors == []
    assert max_dd.endswith("%") and float(max_dd[:-1]) < 0
    assert dd_rows >= 1
    assert in_market == f"{100 * float(np.mean(res.positions.to_numpy() != 0)):.1f}% (bars)"
    assert "one compounded return per session" in basis and "Time in Market: the share of bars" in basis
    assert svg_count >= 5                               # the charts quantstats can draw are there
