"""JSON-lines logging on stdout for every MIA process, with secrets blanked.

Log records must never carry patient identifiers; pass ids, not names.
Secrets (tokens, cookies, signatures) are blanked by `shared.log_redaction`
on the formatted line, whichever logger wrote it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

from shared.logging.redaction import Redactor


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per record; the finished line (message, extras, traceback) is redacted as a whole."""

    def __init__(self, redactor: Redactor, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


def configure_logging(level: str = "INFO", service: str = "mia", *, cookie_names: Iterable[str] = ()) -> None:
    """Send every logger's records to stdout as one redacted JSON object per line.

    `cookie_names` adds configured secret cookies (the portal's MIA_PORTAL_COOKIE_NAME) to the redaction.
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        RedactingJsonFormatter(
            Redactor(cookie_names),
            fmt="%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service},
            timestamp=True,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _route_to_root()


def _route_to_root() -> None:
    """Make every existing logger hand its records to the root's redacting handler, and only to it.

    Streamlit and uvicorn attach plain-text stderr handlers to their loggers and
    stop propagation; a logger that stops propagation with no handler of its own
    falls back to `logging.lastResort` (plain stderr). Either way the line would
    miss the redaction and not be JSON.
    """
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and (logger.handlers or not logger.propagate):
            for own in list(logger.handlers):
                logger.removeHandler(own)
            logger.propagate = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
