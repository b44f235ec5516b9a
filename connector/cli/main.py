"""The ``itsm-connector`` command.

Exit codes: 0 success; 1 the work failed (a server, the store); 2 the config or the command
line is wrong (the message says where).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from connector import __version__
from connector.cli.logs import setup_logging
from connector.domain.errors import ConfigError, ConnectorError, PluginError
from connector.runtime.config import LoadedConfig
from connector.util.secrets import Redactor

if TYPE_CHECKING:
    import pluggy

log = logging.getLogger("connector")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="itsm-connector",
        description="Runs the ITIL incident process beside GLPI or Redmine, fed by Zabbix and e-mail.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument(
        "--log-format", default="text", choices=["text", "json"], help="text (default) or one JSON object per line"
    )
    parser.add_argument("--trace-hooks", action="store_true", help="log every plugin hook call (DEBUG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", "-c", type=Path, required=True, help="connector config (YAML)")

    p = sub.add_parser("demo", help="replay the bundled sample into a local backend and print the tickets")
    p.add_argument("--keep", type=Path, default=None, help="keep the demo's state and tickets in this folder")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of the table's labels (default zh)")
    p.add_argument("-v", "--verbose", action="store_true", help="log each decision above the table (INFO)")
    p = sub.add_parser(
        "validate", help="check a config and its rule files; print file:line: reason per problem (and warnings)"
    )
    p.add_argument("--config", "-c", type=Path, default=None, help="connector config (YAML)")
    p.add_argument("--rules", type=Path, default=None, help="a rules directory (default: the config's, or the shipped)")
    p = sub.add_parser(
        "simulate", help="print the pipeline's decision for each line of an alerts file; no helpdesk is touched"
    )
    p.add_argument("--input", "-i", required=True, help="JSON-lines alerts (see the README), or - for stdin")
    p.add_argument("--config", "-c", type=Path, default=None, help="take the rules and plugins of this config")
    p.add_argument("--rules", type=Path, default=None, help="a rules directory (default: the shipped rules)")
    p.add_argument("--now", default=None, help="ISO time the clock starts at; a line is never processed before it")
    p.add_argument(
        "--until",
        default=None,
        help="also run the escalation/SLA sweep on the simulated clock up to this ISO time, printing each event",
    )
    p.add_argument(
        "--forget-finished",
        action="store_true",
        help="bounded memory for long alert streams: forget finished tickets once no rule window can reach "
        "them (a later control line naming one finds no ticket)",
    )
    p = sub.add_parser(
        "once", help="one cycle: poll every source, decide, read the helpdesk back, sweep the clock, deliver"
    )
    with_config(p)
    p.add_argument("--retry-now", action="store_true", help="try every owed operation now, ignoring its backoff")
    p = sub.add_parser("run", help="run the scheduled jobs until SIGTERM/SIGINT")
    with_config(p)
    from connector.cli.repair import add_parsers as add_repair_parsers

    add_repair_parsers(sub, with_config)  # status, dead-letters
    from connector.cli.prune import add_parser as add_state_parser
    from connector.cli.state import add_actions as add_state_actions

    add_state_actions(add_state_parser(sub, with_config), with_config)  # state prune|migrate|check
    p = sub.add_parser("plugins", help="list the loaded plugins and their hooks")
    p = sub.add_parser(
        "setup",
        aliases=["init"],
        help="check (and where it can, create) what the helpdesk needs; says exactly what is missing",
    )
    p.add_argument("helpdesk", nargs="?", choices=["redmine", "glpi"], help="default: the config's backend")
    with_config(p)
    from connector.cli.export_history import add_parser as add_export_parser
    from connector.cli.report import add_parser as add_report_parser
    from connector.cli.rules import add_parser as add_rules_parser

    add_report_parser(sub)
    add_export_parser(sub)
    add_rules_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    redactor = Redactor()
    quiet = args.command == "demo" and not args.verbose  # the demo's table is its output; decisions on -v
    setup_logging(args.log_level or ("ERROR" if quiet else "INFO"), redactor, args.log_format)
    try:
        return _dispatch(args, redactor)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConnectorError as exc:
        log.error("%s", exc)
        return 1
    except BrokenPipeError:
        # the reader went away (``itsm-connector rules show | head``): not an error of ours, and
        # no traceback; stdout points at /dev/null so the interpreter's final flush stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace, redactor: Redactor) -> int:
    command = args.command
    if command == "report" and args.config is None:  # a history file: needs no config and no plugins
        from connector.cli.report import run_report

        return run_report(args)

    from connector.contracts.plugin_manager import build_plugin_manager

    if command == "demo":
        from connector.cli.demo import run_demo

        return run_demo(sys.stdout, args.keep, build_plugin_manager(trace=args.trace_hooks), lang=args.lang)
    if command == "plugins":
        from connector.contracts.plugin_manager import plugin_summary

        for name, dist, hooks in plugin_summary(build_plugin_manager()):
            print(f"{name:16} {dist:28} {', '.join(hooks)}")
        return 0

    if command in ("validate", "simulate"):
        return _rules_command(args)
    if command == "rules":
        from connector.cli.rules import run_rules

        return run_rules(args)

    from connector.runtime.app import load

    config, pm = load(args.config, build_plugin_manager(trace=args.trace_hooks))
    if args.log_level is None:
        logging.getLogger().setLevel(config.core.logging.level)
    for secret in config.secrets:
        redactor.add(secret)
    for warning in config.warnings:  # e.g. a notify.rules_dir the top-level rules_dir overrides
        log.warning("%s", warning)
    if command in ("setup", "init"):
        return _setup(args, config)
    if command in ("export-history", "report"):
        return _history_command(args, config, pm, redactor)
    if command in ("status", "dead-letters"):
        from connector.cli.repair import run_dead_letters, run_status

        state = config.state_target
        return run_status(args, state) if command == "status" else run_dead_letters(args, state)

    if command == "state" and args.state_action in ("migrate", "check"):
        from connector.cli.state import run_state

        return run_state(args, config.state_target)

    if command == "state":
        from connector.cli.prune import run_state as run_prune

        return run_prune(args, config)

    if command in ("run", "once"):
        # daemons share a state file (leases and claims share the work, docs/several-daemons.md);
        # ``once`` runs alone: it is refused beside a daemon, and a daemon beside it, naming the pid
        from connector.state.lock import StateLock

        with StateLock(config.state_path, command=command, shared=command == "run"):
            return _run_app(args, config, pm, redactor)
    raise AssertionError(f"unhandled command {command}")


def _run_app(args: argparse.Namespace, config: LoadedConfig, pm: pluggy.PluginManager, redactor: Redactor) -> int:
    """``once`` or ``run``, under the state lock the caller holds (nothing is opened before it)."""
    from connector.runtime.app import build_app

    command = args.command
    app = build_app(config, pm, redactor=redactor)
    try:
        if command == "once":
            app.engine.run_once(ignore_backoff=args.retry_now, before_sweep=app.syncback.run)
            counts = app.engine.store.outbox_counts()
            if counts.get("pending"):
                log.warning("%d operation(s) still owed; they are retried on the next run", counts["pending"])
            return 0
        if command == "run":
            from connector.runtime.daemon import Daemon
            from connector.runtime.retention_job import RetentionJob

            settings = config.core.daemon
            retention = RetentionJob(
                app.engine.store,
                app.engine.clock,
                config.core.retention,
                # through ``app`` at each pass: a SIGHUP reload may change the recurrence window
                recurrence_window=lambda: app.engine.pipeline.rules.dedup.recurrence_window,
                stopping=app.engine.stopping.is_set,
            )
            daemon = Daemon(
                app.engine,
                poll_seconds=settings.poll_seconds,
                drain_seconds=settings.drain_seconds,
                sweep_seconds=settings.sweep_seconds,
                sync_seconds=settings.sync_seconds,
                # through ``app`` at each call: a SIGHUP reload replaces the sync-back and reports jobs
                sync=lambda: app.syncback.run(),
                reports=lambda: app.reports.run(),
                http=config.core.http,
                reload=app.reload,
                lease_seconds=settings.lease_seconds,
                renew_seconds=settings.renew_every,
                claim_seconds=settings.claim_seconds,
                prune=retention.run,
                prune_seconds=config.core.retention.every_minutes * 60,
            )
            return daemon.run()
    finally:
        app.close()
    raise AssertionError(f"unhandled command {command}")


def _history_command(
    args: argparse.Namespace, config: LoadedConfig, pm: pluggy.PluginManager, redactor: Redactor
) -> int:
    """``export-history`` and ``report --config``: the KPI history rebuilt from the helpdesk."""
    from connector.domain.clock import SystemClock
    from connector.runtime.helpdesk import open_helpdesk

    clock = SystemClock()
    helpdesk = open_helpdesk(config, pm, clock=clock, register_secret=redactor.add, people=args.people)
    try:
        if args.command == "export-history":
            from connector.cli.export_history import run_export

            return run_export(args, helpdesk)
        from connector.cli.report import run_report

        return run_report(args, clock=clock, helpdesk=helpdesk)
    finally:
        helpdesk.close()


def _rules_command(args: argparse.Namespace) -> int:
    """``validate`` and ``simulate``: both need the rules (of a config, a directory or shipped)."""
    from connector.cli.rules import book_for, sweep_parts
    from connector.contracts.plugin_manager import build_plugin_manager

    if args.command == "validate" and args.config is None and args.rules is None:
        print("validate: give --config FILE and/or --rules DIR", file=sys.stderr)
        return 2
    pm = build_plugin_manager(trace=args.trace_hooks)
    config = None
    rules_dir = args.rules
    if args.config is not None:
        from connector.runtime.app import load

        config, pm = load(args.config, pm)
        rules_dir = rules_dir or config.rules_dir
    rules = book_for(args.rules, config)
    for warning in (*rules.warnings, *(config.warnings if config is not None else ())):
        print(warning, file=sys.stderr)
    if args.command == "validate":
        if config is not None and config.notify is not None:
            # people.yaml against the book's escalation, notifications and lifecycle files, and the templates
            sweep_parts(config, pm, rules)["notifications"].close()
        if config is not None:
            names = ", ".join(f"{s.name} ({s.type_name})" for s in config.sources) or "none"
            print(f"{args.config}: OK — backend {config.backend.name} ({config.backend.type_name}), sources: {names}")
        where = rules_dir or "the shipped rules"
        count = len(rules.classifier.rules)
        print(f"rules ({where}): OK — {count} classification rules, {len(rules.warnings)} warning(s)")
        return 0
    from connector.domain.clock import parse_time
    from connector.process.pipeline import Pipeline
    from connector.runtime.simulate import simulate

    times: dict[str, datetime | None] = {}
    for option in ("now", "until"):
        value = getattr(args, option)
        try:
            times[option] = parse_time(value) if value else None
        except ValueError:
            print(f"simulate: --{option} is not an ISO 8601 time: {value!r}", file=sys.stderr)
            return 2
    pipeline = Pipeline.from_manager(pm, rules)
    extra = sweep_parts(config, pm, rules) if times["until"] is not None else {}
    if args.input == "-":
        counts = simulate(
            sys.stdin, pipeline, sys.stdout, times["now"], until=times["until"], forget=args.forget_finished, **extra
        )
    else:
        try:
            handle = open(args.input, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            print(f"simulate: cannot read {args.input}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        with handle:
            counts = simulate(
                handle, pipeline, sys.stdout, times["now"], until=times["until"], forget=args.forget_finished, **extra
            )
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "no lines"
    print(f"simulate: {summary}", file=sys.stderr)
    return 0


def _setup(args: argparse.Namespace, config: LoadedConfig) -> int:
    if args.helpdesk is None:  # ``init --config FILE``: the helpdesk the config names
        if config.backend.type_name not in ("redmine", "glpi"):
            print(f"{args.config}: backend {config.backend.type_name!r} needs no setup: nothing is missing")
            return 0
        args.helpdesk = config.backend.type_name
    if config.backend.type_name != args.helpdesk:
        print(f"{args.config}: the backend is {config.backend.type_name!r}, not {args.helpdesk!r}", file=sys.stderr)
        return 2
    if args.helpdesk == "glpi":
        from connector.integrations.glpi.setup import setup_for_config

        glpi_report = setup_for_config(config.backend.settings, config.rules_dir)
        print(glpi_report.render())
        return 0 if glpi_report.ok else 1
    from connector.integrations.redmine import setup as redmine_setup

    report = redmine_setup.inspect(config.backend.settings)
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
