"""Logging figures (`make bench`): what the redaction adds to writing one JSON log line.

Prints each figure; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pythonjsonlogger.json import JsonFormatter

from shared.logging.redaction import Redactor

LINES = 20_000
REPEATS = 5
TOKEN = "c5IbPTcbpUB4ZiCiqe7D7GrJmutuU9VS2un7LySrseI"
FIELDS = {
    "fmt": "%(levelname)s %(name)s %(message)s",
    "rename_fields": {"levelname": "level", "name": "logger"},
    "static_fields": {"service": "bench"},
    "timestamp": True,
}


def records() -> dict[str, logging.LogRecord]:
    """An access-log line, a line carrying secrets, and aiohttp's over-long-line error with its traceback."""
    access = logging.LogRecord("mia.upload.access", logging.INFO, __file__, 1, "request", None, None)
    access.__dict__.update(method="PATCH", route="/files/{upload_id}", status=204, ms=12.3)
    secret = logging.LogRecord(
        "mia.test", logging.WARNING, __file__, 1, "GET /p/%s?x=1 Cookie: mia_session=%s", (TOKEN, TOKEN), None
    )
    try:
        raise ValueError(f"400, message:\n  Got more than 8190 bytes when reading: b'{TOKEN}{'A' * 57}...'.")
    except ValueError:
        error = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", None, sys.exc_info()
        )
    return {"access log line": access, "line with two secrets": secret, "error with traceback": error}


def best_microseconds(action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(LINES):
            action()
        best = min(best, time.perf_counter() - started)
    return best / LINES * 1e6


def format_fresh(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    record.exc_text = None  # as for a new record: the traceback is formatted each time
    return formatter.format(record)


def main() -> None:
    formatter = JsonFormatter(**FIELDS)  # type: ignore[arg-type]
    redactor = Redactor(["clinic_auth"])
    print(f"one JSON log line, best of {REPEATS} × {LINES} lines:")
    for name, record in records().items():
        line = format_fresh(formatter, record)
        formatting = best_microseconds(lambda: format_fresh(formatter, record))  # noqa: B023
        redaction = best_microseconds(lambda: redactor.redact(line))  # noqa: B023
        print(
            f"  {name} ({len(line)} characters): JSON formatting {formatting:.1f} µs, "
            f"redaction {redaction:.1f} µs (+{redaction / formatting:.0%})"
        )


if __name__ == "__main__":
    main()
