"""A local bar server and its client: the network path of a live feed, end to end, without the internet.

:class:`BarServer` listens on 127.0.0.1 (a free port by default) and sends the bars of a frame
to each client that connects, one JSON line per bar, at a chosen speed (0: as fast as the client
reads); it stops by itself after ``linger`` seconds without a client, or when closed.
:class:`BarClient` connects, reads the lines on a thread and pushes each bar into a
:class:`~engines.bt.QueueFeed` (or any ``queue.Queue``), then ends the feed.  A broker's or an
exchange's websocket client plugs in the same way: read, then ``feed.push(time, values)``.

Line format: ``{"t": "<ISO time with offset>", "open": ..., "high": ..., "low": ..., "close": ...,
"volume": ..., [trades, buy_volume, sell_volume, vwap]}``; the line ``{"end": true}`` ends the stream.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError

__all__ = ["BarClient", "BarServer"]

_COLS = ("open", "high", "low", "close", "volume", "trades", "buy_volume", "sell_volume", "vwap")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class BarServer:
    """Serve ``bars`` as JSON lines on ``host``:``port`` (127.0.0.1 only; port 0: a free one).

    Use as a context manager, or call :meth:`close`.  ``speed``: bars at that
    many times their own pace (0: as fast as the client reads).  ``linger``:
    seconds the server waits for a client before it stops by itself.
    """

    def __init__(self, bars: pd.DataFrame, *, host: str = "127.0.0.1", port: int = 0, speed: float = 0.0,
                 bar_minutes: float | None = None, linger: float = 60.0):
        from ml.data import bar_minutes_of

        if host not in ("127.0.0.1", "localhost"):
            raise ParameterError(f"BarServer listens on 127.0.0.1 only, got host {host!r}.")
        cols = [c for c in _COLS if c in bars.columns]
        vals = bars[cols].to_numpy(dtype=np.float64)
        times = [t.isoformat() for t in bars.index]
        pace = 0.0 if not speed else float(bar_minutes or bar_minutes_of(bars)) * 60.0 / float(speed)
        self.served = 0

        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                t0 = time.time()
                for i, t in enumerate(times):
                    if pace:
                        wait = t0 + i * pace - time.time()
                        if wait > 0:
                            time.sleep(wait)
                    row = {"t": t, **{c: float(v) for c, v in zip(cols, vals[i]) if v == v}}
                    self.wfile.write((json.dumps(row) + "\n").encode())
                self.wfile.write(b'{"end": true}\n')
                self.wfile.flush()
                outer.served += 1

        self._server = _Server(("127.0.0.1", port), Handler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="bar-server", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(linger, self.close)
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        """Stop serving (idempotent)."""
        self._timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BarClient:
    """Read a :class:`BarServer`'s lines on a thread and push each bar into ``feed``.

    ``feed``: a :class:`~engines.bt.QueueFeed` (its ``push`` / ``end``) or a
    ``queue.Queue`` (``(time, values)`` items, then ``None``).  The client
    ends the feed when the stream ends or the connection drops.
    """

    def __init__(self, feed, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 30.0):
        self.feed = feed
        self.received = 0
        self.error = None
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._thread = threading.Thread(target=self._run, name="bar-client", daemon=True)
        self._thread.start()

    def _put(self, item) -> None:
        if hasattr(self.feed, "push"):
            if item is None:
                self.feed.end()
            else:
                self.feed.push(*item)
        else:
            self.feed.put(item)

    def _run(self) -> None:
        try:
            with self._sock, self._sock.makefile("rb") as f:
                for line in f:
                    row = json.loads(line)
                    if row.get("end"):
                        break
                    t = pd.Timestamp(row.pop("t"))
                    self._put((t, row))
                    self.received += 1
        except (OSError, ValueError) as exc:   # a dropped connection or a bad line ends the feed
            self.error = exc
        finally:
            self._put(None)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
