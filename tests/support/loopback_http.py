"""A threaded HTTP server on a loopback port that a test starts, stops and tells to fail.

The FHIR server and the XDS repository differ in what they answer; the shell around
that (a free port, a serving thread, a context manager, a queue of faults for the
next requests) is the same, and lives here once.
"""

from __future__ import annotations

import copy
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Generic, Self, TypeVar

FaultT = TypeVar("FaultT")


class LoopbackServer(Generic[FaultT]):
    """Serves `handler` on 127.0.0.1 (a free port) from a daemon thread once entered."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], thread_name: str) -> None:
        self.faults: list[FaultT] = []
        self.lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._http.block_on_close = False
        self._thread = threading.Thread(target=self._http.serve_forever, name=thread_name, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop answering: the port is closed afterwards (a destination that is down)."""
        self._http.shutdown()
        self._http.server_close()

    def fail_next(self, fault: FaultT, times: int = 1) -> None:
        with self.lock:
            self.faults.extend(copy.copy(fault) for _ in range(times))

    def next_fault(self) -> FaultT | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None
