"""``itsm-connector rules show``: the rule book in force, file by file, and where each came from.

An admin who edits a rules directory needs to see what the connector will actually apply: a
file the site directory lacks is the shipped one, a misspelt file is an error (``validate``
says so), and ``notify.rules_dir`` of an older config still supplies the ladder and notice
tables. ``rules show`` loads the book exactly as the daemon does (``LoadedConfig.rulebook``,
or ``load_rulebook`` of a directory) and prints, for each file, ``site`` or ``shipped``, its
path and its validated content (defaults filled in) — as readable YAML, or as one JSON object
with ``--json``.

``book_for`` and ``sweep_parts`` are what ``validate`` and ``simulate`` share with it: the
book of a config or a directory, and the sweep, notices and roster of ``simulate --until``.
"""

from __future__ import annotations

__all__ = ["add_parser", "book_for", "describe", "run_rules", "sweep_parts"]

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import BaseModel

from connector.rules.book import RuleBook
from connector.rules.loading import load_rulebook, shipped_rules_dir
from connector.runtime.config import LoadedConfig


def add_parser(sub: Any) -> None:
    """The ``rules`` command and its ``show`` subcommand."""
    p = sub.add_parser("rules", help="the rule book in force: each file, whether shipped or the site's, its content")
    actions = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print the effective rule book and where each file came from")
    where = show.add_mutually_exclusive_group()
    where.add_argument("--config", "-c", type=Path, default=None, help="the rules of this connector config")
    where.add_argument("--rules-dir", type=Path, default=None, help="a rules directory (default: the shipped rules)")
    show.add_argument("--json", action="store_true", help="one JSON object instead of text")


def book_for(rules_dir: Path | None, config: LoadedConfig | None) -> RuleBook:
    """The book of an explicit directory, else of the config, else the shipped one."""
    if rules_dir is not None or config is None:
        return load_rulebook(rules_dir)
    return config.rulebook()


def _origin(path: Path) -> str:
    return "shipped" if path.parent.resolve() == shipped_rules_dir().resolve() else "site"


def _content(model: Any) -> Any:
    if isinstance(model, BaseModel):
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return None


def describe(book: RuleBook) -> dict[str, Any]:
    """The book as plain data: per file its origin, path and validated content."""
    return {
        "files": {
            name: {"origin": _origin(path), "path": str(path), "content": _content(book.models.get(name))}
            for name, path in book.files.items()
        },
        "warnings": [str(w) for w in book.warnings],
    }


class _Dumper(yaml.SafeDumper):
    """YAML as an admin writes it: short lists and small tables on one line, texts as blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _seq(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flat = all(not isinstance(v, dict | list) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


def _map(dumper: yaml.SafeDumper, value: dict[Any, Any]) -> yaml.Node:
    flat = len(value) <= 3 and all(not isinstance(v, dict | list) for v in value.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flat)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _seq)
_Dumper.add_representer(dict, _map)


def _as_written(value: Any) -> Any:
    """JSON's string keys back to numbers where the files write numbers (priorities, urgencies),
    and whole minutes without their ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {int(k) if isinstance(k, str) and k.isdigit() else k: _as_written(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_written(v) for v in value]
    return value


def _print_text(data: dict[str, Any], out: TextIO) -> None:
    files: dict[str, dict[str, Any]] = data["files"]
    width = max(len(name) for name in files)
    out.write("# the rule book in force (site: from the rules directory; shipped: the connector's defaults)\n")
    for name, info in files.items():
        out.write(f"#   {name:<{width}}  {info['origin']:<7}  {info['path']}\n")
    for name, info in files.items():
        out.write(f"\n# --- {name} ({info['origin']}: {info['path']})\n")
        out.write(
            yaml.dump(_as_written(info["content"]), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
        )
    for warning in data["warnings"]:
        out.write(f"\n# {warning}")
    if data["warnings"]:
        out.write("\n")


def run_rules(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``rules show``: load the book (raises ``ConfigError`` like ``validate``) and print it."""
    out = out or sys.stdout
    config = None
    if args.config is not None:
        from connector.contracts.plugin_manager import build_plugin_manager
        from connector.runtime.app import load

        config, _ = load(args.config, build_plugin_manager())
    data = describe(book_for(args.rules_dir, config))
    if args.json:
        out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_text(data, out)
    return 0


def sweep_parts(config: LoadedConfig | None, pm: Any, rules: RuleBook) -> dict[str, Any]:
    """The sweep of ``simulate --until`` (and ``validate``'s check of the notices): the config's
    notices (recipients, the closing right) when it has a notify section, else the book's
    escalation and notification tables alone."""
    from connector.process.escalation import SweepRules

    if config is not None and config.notify is not None:
        from connector.notify.settings import build_notifications, notifier_types
        from connector.process.roster import DirectoryRoster

        notifications = build_notifications(
            config.notify, notifier_types(pm), lambda name: _simulate_context(config), rules
        )
        return {
            "sweep": SweepRules.of(rules, notifications, timezone=config.core.reports.timezone),
            "notifications": notifications,
            "roster": DirectoryRoster(notifications.directory, rules.lifecycle.closing, rules.lifecycle.verification),
        }
    from connector.runtime.config import ReportSettings

    # without a config, the site's zone is the reports' default
    zone = config.core.reports.timezone if config is not None else ReportSettings().timezone
    return {"sweep": SweepRules.of(rules, None, timezone=zone)}


def _simulate_context(config: LoadedConfig) -> Any:
    from connector.contracts.adapters import PluginContext
    from connector.domain.clock import SystemClock
    from connector.state.spool import Spool

    return PluginContext(
        clock=SystemClock(),
        name="simulate",
        data_dir=config.path.parent,
        register_secret=lambda _: None,
        spool=Spool(config.state_path.parent / "spool"),
    )
