import json
import logging

import pytest

from shared.logging.json_lines import configure_logging, get_logger


def test_log_lines_are_json_objects(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", service="test")
    get_logger("mia.test").info("hello", extra={"media_id": "m1"})
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "hello" and record["level"] == "INFO"
    assert record["media_id"] == "m1" and record["service"] == "test" and "timestamp" in record
    logging.getLogger().handlers.clear()
