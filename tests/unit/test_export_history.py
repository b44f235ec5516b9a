"""``export-history`` end to end: alerts through the real engine into the local helpdesk, the
desk working the tickets as its people would, the history rebuilt from the helpdesk alone, and
the report of it — from the file and straight from the config — giving the numbers worked out
by hand below."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.cli.main import main
from connector.contracts.adapters import Backend
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendRejected
from connector.domain.models import ClosureCode, Ticket, TicketStatus
from connector.kpi.export import ExportStats, export_records
from connector.kpi.history import HistoryRecord
from connector.plugins.local import LocalBackend
from tests.conformance.harness import an_alert, make_engine

SEPTEMBER = datetime(2026, 9, 30, 15, 0, tzinfo=UTC)  # 23:00 on 30 September in Beijing
T = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)
AS_OF = "2026-11-01T09:00:00+08:00"
PEOPLE = """\
roles: {service_desk: {zh: 服务台, en: service desk}}
people:
  desk: {name: 服务台, roles: [service_desk]}
  zhang.wei: {name: 张伟, logins: [zhangw]}
  zhao.kai: {name: 赵凯, logins: [zhaok]}
groups:
  服务台: {line: first_line, handlers: [desk]}
  网络组: {handlers: [zhang.wei]}
  通信供应商: {line: third_party, handlers: [zhao.kai]}
"""
S = TicketStatus


@dataclass
class Site:
    config: Path
    people: Path
    helpdesk: Path
    ids: dict[str, str]


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A month of a small desk: a September ticket, then on 2 October a P1 on the core switch
    (with a duplicate) worked by the 2nd line, and a P3 handed to a supplier."""
    clock = FakeClock(SEPTEMBER)
    backend = LocalBackend(tmp_path / "helpdesk.db", clock)
    engine = make_engine(backend, clock, tmp_path / "state.db")

    def alert(external_id: str, **values: Any) -> str:
        item = an_alert(clock, external_id, **values)
        engine.ingest(item.source, [item])
        engine.process_pending()
        engine.drain_outbox()
        ref = backend.find_by_key(item.key)
        assert ref is not None
        return ref.ticket_id

    ids = {"september": alert("sep-1", ci="db01", title="DB slow", severity=2, description="slow queries")}
    clock.set(T)
    ids["p1"] = alert("cs-1")
    clock.advance(minutes=1)
    ids["dup"] = alert("cs-2")  # the same switch, a minute later: a duplicate of p1
    clock.advance(minutes=1)
    ids["p3"] = alert("web-1", ci="web01", title="Disk full on web01", severity=3, occurred_at=at(-3))

    def desk(minutes: float, login: str, ticket: str, note: str | None = None, **changes: Any) -> None:
        assert clock.now() <= at(minutes), "the desk's steps are written in the order they happen"
        clock.set(at(minutes))
        with backend.as_user(login):
            backend.update_ticket(ids[ticket], changes, note)

    desk(5, "desk", "p1", assignment_group="网络组", assignee="zhangw")
    desk(8, "zhangw", "p1", status=S.IN_PROGRESS)
    desk(20, "zhangw", "p1", "replaced the line card")
    desk(20, "desk", "p3", assignment_group="通信供应商", assignee="zhaok")
    desk(25, "zhaok", "p3", status=S.IN_PROGRESS)
    desk(30, "zhaok", "p3", "waiting for the customer's window", status=S.SUSPENDED)
    desk(35, "zhangw", "p1", "back up", status=S.RESOLVED)
    desk(60, "desk", "p1", status=S.CLOSED, closure_code=ClosureCode.SUCCESS)
    desk(90, "zhaok", "p3", status=S.IN_PROGRESS)
    desk(200, "zhaok", "p3", "disk replaced", status=S.RESOLVED)
    desk(300, "desk", "p3", status=S.CLOSED, closure_code=ClosureCode.SUCCESS_WITH_PROBLEM, kb_used=True)
    engine.store.close()
    backend.close()

    config = tmp_path / "connector.yaml"
    config.write_text("state: {path: state.db}\nbackend: {type: local, path: helpdesk.db}\n")
    people = tmp_path / "people.yaml"
    people.write_text(PEOPLE)
    yield Site(config, people, tmp_path / "helpdesk.db", ids)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def read(path: Path) -> dict[str, HistoryRecord]:
    records = [HistoryRecord.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {r.id: r for r in records}


def test_the_history_is_rebuilt_from_the_helpdesk_alone(site: Site, tmp_path: Path) -> None:
    (tmp_path / "state.db").unlink(missing_ok=True)  # the connector's state is lost: nothing of the history is
    out = tmp_path / "out" / "tickets.jsonl"
    code, _, stderr = cli(
        "export-history", "--config", str(site.config), "--period", "2026-10", "--out", str(out),
        "--people", str(site.people),
    )  # fmt: skip
    assert code == 0, stderr
    assert "3 ticket(s) of 2026-10 written" in stderr
    records = read(out)
    ids = site.ids
    assert set(records) == {ids["p1"], ids["dup"], ids["p3"]}  # September's ticket is not October's
    p1, dup, p3 = records[ids["p1"]], records[ids["dup"]], records[ids["p3"]]
    assert dup.duplicate_of == ids["p1"]  # the master's helpdesk id, not its connector key
    # the group the rules gave it at creation routed it; the desk dispatched it at 5
    assert (p1.registered_at, p1.assigned_at, p1.accepted_at) == (at(0), at(5), at(8))
    assert (p1.resolved_at, p1.closed_at, p1.resolver) == (at(35), at(60), "zhangw")
    assert p1.resolver_role.value == "second_line" and p1.registrar == "connector"  # type: ignore[union-attr]
    assert p1.worklog_staff == ("desk", "zhangw")
    assert (p3.occurred_at, p3.registered_at, p3.third_party_at) == (at(-3), at(2), at(20))
    assert p3.suspensions == ((at(30), at(90)),) and p3.kb_used
    assert p3.resolver == "zhaok" and p3.resolver_role.value == "third_party"  # type: ignore[union-attr]
    assert not list(tmp_path.glob("out/.tickets.jsonl.*"))  # no temporary file left behind


def test_report_of_the_export_gives_the_numbers_worked_out_by_hand(site: Site, tmp_path: Path) -> None:
    history = tmp_path / "tickets.jsonl"
    september = tmp_path / "september.jsonl"
    for period, path in (("2026-10", history), ("2026-09", september)):
        code, _, stderr = cli(
            "export-history", "-c", str(site.config), "--period", period, "--out", str(path),
            "--people", str(site.people),
        )  # fmt: skip
        assert code == 0, stderr
    history.write_text(september.read_text(encoding="utf-8") + history.read_text(encoding="utf-8"))
    code, stdout, stderr = cli("report", "--period", "2026-10", "--input", str(history), "--as-of", AS_OF)
    assert code == 0, stderr
    report = json.loads(stdout)
    k = report["kpis"]
    assert (report["occurred"], report["duplicates"], k["total"]) == (3, 1, 2)
    assert k["closed"] == {"count": 2, "ratio": 1.0}
    assert k["closed_success"]["count"] == 1 and k["escalated_to_problem"]["count"] == 1
    # P1: accepted 08 → resolved 35 is 27 min (target 30); P3: 25 → 200 less the 60 min suspended
    # is 115 min (target 120): neither is late, but only P1 closed with success. Response: P1
    # registered 00, dispatched 05 (target 10) in time; P3 registered 02, dispatched 20: 18 min,
    # past its 15 — late
    assert k["resolved_in_time"]["count"] == 1 and k["responded_in_time"]["count"] == 1
    assert k["mean_response_minutes"] == 2.5  # (0 + 5) / 2: P3's fault began 3 min before its alert
    assert k["mean_resolution_minutes"] == 35.0  # only P1 was solved by the 1st/2nd line
    assert k["third_party_mean_resolution_minutes"] == 120.0  # (200 − 20) − 60 suspended
    assert k["first_line_resolution"]["count"] == 0 and k["second_line_resolution"]["count"] == 1
    assert k["major"]["count"] == 1 and k["kb_use"]["count"] == 1
    staff = k["staff"]
    assert staff["connector"]["registered"] == 2
    assert {name: s["worked_on"] for name, s in staff.items() if s["worked_on"]} == {"desk": 2, "zhangw": 1, "zhaok": 1}
    assert staff["zhangw"]["resolved"] == 1 and staff["zhaok"]["resolved"] == 1
    assert report["previous"]["kpis"]["total"] == 1  # the September ticket, for the trend

    # the same report straight from the config: the history is rebuilt in memory
    code, direct, stderr = cli(
        "report", "--period", "2026-10", "--config", str(site.config), "--people", str(site.people), "--as-of", AS_OF
    )
    assert code == 0, stderr
    same = json.loads(direct)
    assert {key: same[key] for key in same if key != "input"} == {key: report[key] for key in report if key != "input"}
    assert same["input"]["records"] == 4 and same["input"]["skipped"] == 0


def test_without_people_the_line_comes_only_from_the_field(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "tickets.jsonl"
    code, _, stderr = cli("export-history", "-c", str(site.config), "--period", "2026-10", "--out", str(out))
    assert code == 0, stderr
    assert {r.resolver_role for r in read(out).values()} == {None}


def test_stdout_and_a_quarter(site: Site) -> None:
    code, stdout, stderr = cli("export-history", "-c", str(site.config), "--period", "2026-Q4", "--out", "-")
    assert code == 0, stderr
    assert len(stdout.splitlines()) == 3 and "written to stdout" in stderr
    code, stdout, _ = cli("export-history", "-c", str(site.config), "--period", "2026-Q3", "--out", "-")
    assert code == 0 and len(stdout.splitlines()) == 1  # 30 September in Beijing


class Vanishing:
    """A helpdesk where one ticket is deleted between the listing and the read."""

    def __init__(self, inner: LocalBackend, gone: str) -> None:
        self.inner, self.gone = inner, gone
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def ticket_history(self, ticket_id: str) -> Any:
        if ticket_id == self.gone:
            raise BackendRejected(f"no ticket #{ticket_id}", backend="local", operation="history")
        return self.inner.ticket_history(ticket_id)


def test_a_ticket_that_went_away_is_left_out_and_said(site: Site) -> None:
    backend = LocalBackend(site.helpdesk, FakeClock(T))
    stats = ExportStats()
    flaky: Backend = Vanishing(backend, site.ids["p3"])  # type: ignore[assignment]
    records = list(export_records(flaky, datetime(2026, 9, 30, 16, tzinfo=UTC), at(1440), stats=stats))
    assert {r.id for r in records} == {site.ids["p1"], site.ids["dup"]}
    assert stats.listed == 3 and stats.records == 2  # September's ticket last changed before the start
    assert [p.ticket_id for p in stats.problems] == [site.ids["p3"]] and "cannot be read" in str(stats.problems[0])


def test_a_duplicate_whose_master_is_older_than_the_period(site: Site) -> None:
    """The master last changed before the period began, so it is not listed: its id is asked
    of the helpdesk, once; a master the helpdesk does not have leaves the link out, said."""
    backend = LocalBackend(site.helpdesk, FakeClock(at(400)))
    asked: list[str] = []
    real = backend.find_by_key

    def find(key: str) -> Any:
        asked.append(key)
        return real(key)

    backend.find_by_key = find  # type: ignore[method-assign]
    for key, master in (("desk:1", "zabbix:sep-1"), ("desk:2", "zabbix:sep-1"), ("desk:3", "zabbix:gone")):
        backend.create_ticket(
            Ticket(key=key, title="DB slow again", description="…", duplicate_of=master, registered_at=at(400))
        )
    stats = ExportStats()
    october = list(
        export_records(
            backend, datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 31, 16, tzinfo=UTC), stats=stats
        )
    )
    masters = {r.id: r.duplicate_of for r in october if r.registered_at == at(400)}
    assert sorted(masters.values(), key=lambda m: m or "") == [None, site.ids["september"], site.ids["september"]]
    assert asked == ["zabbix:sep-1", "zabbix:gone"]  # each key once; p1's master was listed
    assert [str(n) for n in stats.notes if "master" in n.reason] == [
        f"ticket {next(i for i, m in masters.items() if m is None)}: its master 'zabbix:gone' is not in the helpdesk"
    ]


def test_a_backend_without_a_history_is_refused(site: Site) -> None:
    class Blind:
        name = "blind"

    with pytest.raises(ValueError, match="HistoryReader"):
        list(export_records(Blind(), T, at(1)))  # type: ignore[arg-type]


def test_lateness_follows_the_rules_the_config_uses(site: Site, tmp_path: Path) -> None:
    """A site whose P1 must be solved within 20 minutes: P1's 27 minutes are late there."""
    shipped = (Path(__file__).resolve().parents[2] / "rules" / "sla.yaml").read_text(encoding="utf-8")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "sla.yaml").write_text(shipped.replace("resolution: {breach: 30}", "resolution: {breach: 20}"))
    strict = tmp_path / "strict.yaml"
    strict.write_text(site.config.read_text() + "rules_dir: rules\n")
    argv = ("report", "--period", "2026-10", "--people", str(site.people), "--as-of", AS_OF)
    code, shipped_rules, _ = cli(*argv, "--config", str(site.config))
    assert code == 0 and json.loads(shipped_rules)["kpis"]["resolved_in_time"]["count"] == 1
    code, site_rules, stderr = cli(*argv, "--config", str(strict))
    assert code == 0, stderr
    assert json.loads(site_rules)["kpis"]["resolved_in_time"]["count"] == 0


def test_input_and_config_exclude_each_other(site: Site) -> None:
    with pytest.raises(SystemExit) as info, redirect_stderr(io.StringIO()) as err:
        main(["report", "--period", "2026-10", "--input", "x.jsonl", "--config", str(site.config)])
    assert info.value.code == 2 and "not allowed with argument" in err.getvalue()
    with pytest.raises(SystemExit), redirect_stderr(io.StringIO()) as err:
        main(["report", "--period", "2026-10"])
    assert "one of the arguments --input --config" in err.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_only() -> None:
    from connector.cli.export_history import progress

    tty, pipe = Terminal(), io.StringIO()
    for stream in (tty, pipe):
        tell = progress(stream, "local 2026-10")
        for done in range(1, 5):
            tell(done, 4)
    assert tty.getvalue().count("\r") == 4 and tty.getvalue().endswith("100%\n")
    assert pipe.getvalue() == ""
