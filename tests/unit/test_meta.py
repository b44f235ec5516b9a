"""Rules the code base keeps: one error root, one clock, no secrets in logs."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
from pathlib import Path

import connector
from connector.domain.errors import ConnectorError
from connector.util.secrets import Redactor

PACKAGE = Path(connector.__file__).parent


def _modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages([str(PACKAGE)], "connector.")]


def test_every_exception_descends_from_connector_error() -> None:
    for name in _modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == name and issubclass(obj, Exception) and not obj.__name__.startswith("_"):
                assert issubclass(obj, ConnectorError), f"{name}.{obj.__name__} is not a ConnectorError"


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    pattern = re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(|date\.today\(")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "clock.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_redactor_hides_secrets_in_messages_and_tracebacks() -> None:
    redactor = Redactor()
    redactor.add("s3cr3t-token")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "auth with %s failed", ("s3cr3t-token",), None)
    assert redactor.filter(record)
    assert record.getMessage() == "auth with *** failed"
    try:
        raise ValueError("token s3cr3t-token rejected")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    redactor.filter(record)
    assert record.exc_text is not None and "s3cr3t-token" not in record.exc_text and "***" in record.exc_text
