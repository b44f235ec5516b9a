"""``--log-format json``: one JSON object per line, context fields as keys, secrets never included."""

from __future__ import annotations

import json
import logging

import pytest

from connector.cli.logs import setup_logging
from connector.cli.main import main
from connector.util.secrets import Redactor


def test_each_line_is_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-format", "json", "demo", "-v"]) == 0
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]  # every line parses, or this raises
    assert len(records) > 20
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["message"].startswith("zabbix:41001 → create P2") for r in records)


def test_secrets_are_gone_from_message_traceback_and_context(capsys: pytest.CaptureFixture[str]) -> None:
    redactor = Redactor()
    redactor.add("hunter2-token")
    setup_logging("INFO", redactor, "json")
    log = logging.getLogger("connector.test")
    try:
        raise RuntimeError("login with hunter2-token refused")
    except RuntimeError:
        log.exception(
            "call failed for %s", "hunter2-token", extra={"key": "zabbix:1", "operation": "create hunter2-token"}
        )
    err = capsys.readouterr().err
    assert "hunter2-token" not in err
    record = json.loads(err.strip().splitlines()[-1])
    assert record["message"] == "call failed for ***"
    assert record["key"] == "zabbix:1" and record["operation"] == "create ***"
    assert "RuntimeError: login with ***" in record["exc_info"]


def test_text_stays_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", Redactor())
    logging.getLogger("connector.test").info("plain %s", "words")
    line = capsys.readouterr().err.strip()
    assert line.endswith("INFO connector.test: plain words") and not line.startswith("{")
