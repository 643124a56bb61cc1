"""A real-time dashboard of a paper or live run, served on 127.0.0.1.

    python -m runners.dashboard --run runs/paper-20261207-101500 [--port 8050] [--refresh 1]

Open http://127.0.0.1:8050 while ``python -m runners.paper`` writes to that
folder: equity and drawdown, the position, the latest decisions with their
probabilities and latencies, the drift panel and the alerts, and the
champion against its shadow challenger (``--challenger``). It refreshes every
``--refresh`` seconds. ``--stop-after SECONDS`` stops the server by itself.
See :mod:`ml.monitoring.dashboard`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ml.exceptions import ParameterError
from runners._cli import OneLineParser, run_cli
from runners._pipeline import number

__all__ = ["build_parser", "main"]


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m runners.dashboard",
                      description="Serve the real-time dashboard of a paper or live run on 127.0.0.1.")
    p.add_argument("--run", metavar="DIR", required=True, help="the run folder of python -m runners.paper --out DIR")
    p.add_argument("--port", type=int, default=8050, help="port on 127.0.0.1 (default 8050; 0 picks a free one)")
    p.add_argument("--refresh", type=number("--refresh", 0, strict_lo=True), default=1.0,
                   help="seconds between two reads of the run folder (default 1)")
    p.add_argument("--stop-after", type=number("--stop-after", 0, strict_lo=True), metavar="SECONDS",
                   help="stop the server after this many seconds (default: run until interrupted)")
    return p


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    folder = Path(args.run)
    if not folder.is_dir():
        raise ParameterError(f"--run {folder}: no such folder; pass the --out folder of python -m runners.paper")
    if not any((folder / f).exists() for f in ("live.json", "decisions.parquet", "decisions.partial.parquet")):
        raise ParameterError(f"--run {folder}: not a paper or live run folder (no live.json or decision log); "
                             "start one with python -m runners.paper --out DIR")
    from ml.monitoring.dashboard import build_app, serve

    try:
        server = serve(build_app(folder, refresh=args.refresh), port=args.port, stop_after=args.stop_after)
    except OSError as exc:
        raise ParameterError(f"--port {args.port}: cannot listen on 127.0.0.1 ({exc.strerror or exc}); pick another "
                             "port, or --port 0 for a free one") from None
    print(f"dashboard of {folder.resolve()} on http://127.0.0.1:{server.port} (Ctrl-C stops it)", flush=True)
    try:
        while server.thread.is_alive():
            time.sleep(0.2)
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(run_cli(main))
