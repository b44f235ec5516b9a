"""One rule book: every rules file of a site's directory is loaded and validated — an unknown
file name and a garbage ladder, notice, lifecycle or reply file fail ``validate`` with
``file:line: reason`` — ``rules_dir`` is the whole book, ``notify.rules_dir`` still works
(deprecated), and the lifecycle's numbers and roles come from ``lifecycle.yaml``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pluggy
import pytest

from connector.cli.main import main
from connector.contracts.notifiers import OutgoingMessage
from connector.domain.clock import FakeClock
from connector.domain.errors import ConfigError
from connector.domain.models import Alert, Priority, TicketSource
from connector.notify.dispatch import Channel
from connector.notify.people import Directory, load_people
from connector.notify.render import Renderer
from connector.notify.settings import Notifications
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.process.roster import DirectoryRoster
from connector.rules.files import DedupFile, LifecycleFile, ReplyText
from connector.rules.loading import RULE_FILES, default_rulebook, load_rulebook, shipped_rules_dir
from connector.rules.rulefile import load_model
from connector.runtime.engine import Engine
from connector.state.spool import Spool
from tests.notify_helpers import PEOPLE_EXAMPLE
from tests.state_backend import make_store
from tests.unit.test_escalation_day import Recorder

LIFECYCLE = (shipped_rules_dir() / "lifecycle.yaml").read_text(encoding="utf-8")


def rules(tmp_path: Path, **files: str) -> Path:
    """A rules directory holding ``files`` (file name → text)."""
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return directory


def config(tmp_path: Path, body: str = "", *, notify: str | None = None) -> Path:
    """A connector config; ``notify``: the lines of its notify section after people and desk."""
    text = "state: {path: state.db}\nbackend: {type: local, path: tickets.db}\n" + body
    if notify is not None:
        (tmp_path / "people.yaml").write_text(PEOPLE_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
        text += (
            "notify:\n  people: people.yaml\n  service_desk: desk 8888\n  channels:\n"
            "    - {type: smtp, host: relay.example, sender: 'ITSM <itsm@metro.example>'}\n"
            "    - {type: webhook, url: 'https://gw.example/sms'}\n" + notify
        )
    path = tmp_path / "connector.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


# --- validate: unknown and garbage files -----------------------------------------------------------


def test_an_unknown_file_in_the_rules_directory_fails_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = rules(
        tmp_path,
        **{"escalaton.yaml": "levels: []\n", "notes.yml": "x: 1\n", "README.md": "hi\n", ".#sla.yaml": ""},
    )
    code, out, err = validate(capsys, "--rules", str(directory))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0] == (
        f"{directory / 'escalaton.yaml'}:1: not a rule file (did you mean 'escalation.yaml'?); "
        f"the rule files are {', '.join(RULE_FILES)}"
    )
    assert lines[1].startswith(f"{directory / 'notes.yml'}:1: not a rule file; the rule files are ")
    assert len(lines) == 2  # a file that is not YAML, or is hidden, is not the book's business


def test_a_yml_spelling_is_pointed_at_its_yaml_name(tmp_path: Path) -> None:
    directory = rules(tmp_path, **{"sla.yml": "targets: {}\n"})
    with pytest.raises(ConfigError) as caught:
        load_rulebook(directory)
    [problem] = caught.value.problems
    assert "(did you mean 'sla.yaml'?)" in problem.reason


@pytest.mark.parametrize(
    ("name", "text", "line", "reason"),
    [
        (
            "escalation.yaml",
            "levels: 42\nminutes: {1: [1], 2: [1], 3: [1]}\n",
            1,
            "levels: Input should be a valid list",
        ),
        (
            "escalation.yaml",
            "levels: [{role: project_manager}]\nminutes: {1: [10], 2: [5]}\n",
            2,
            "no row for priority 3",
        ),
        ("notifications.yaml", "channels: {1: [email]}\n", 1, "missing required key"),
        (
            "lifecycle.yaml",
            LIFECYCLE.replace("limit: 2", "limit: -1"),
            10,
            "reassignment.limit: Input should be greater",
        ),
        ("lifecycle.yaml", LIFECYCLE.replace("first_line_groups:", "first_line_group:"), 16, "did you mean"),
        ("lifecycle.yaml", "garbage\n", None, "the file must be a mapping"),
        ("replies.yaml", "refused_sender: {subject: hi, text: 'dear {name}'}\n", 1, "unknown placeholder {name}"),
    ],
)
def test_a_garbage_rule_file_fails_validate_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, line: int | None, reason: str
) -> None:
    directory = rules(tmp_path, **{name: text})
    code, _, err = validate(capsys, "--rules", str(directory))
    assert code == 2
    where = f"{directory / name}:{line}:" if line else f"{directory / name}:"
    assert any(row.startswith(where) and reason in row for row in err.splitlines()), err


def test_validate_of_a_config_reads_the_escalation_file_of_its_rules_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported bug: a garbage escalation.yaml in the top-level rules_dir was ignored and
    validate said OK."""
    rules(tmp_path, **{"escalation.yaml": "levels: 42\n"})
    path = config(tmp_path, "rules_dir: rules\n")
    code, out, err = validate(capsys, "--config", str(path))
    assert code == 2 and "OK" not in out
    assert f"{tmp_path / 'rules' / 'escalation.yaml'}:1: levels: Input should be a valid list (got 42)" in err

    (tmp_path / "rules" / "escalation.yaml").write_text(
        "levels: [{role: incident_managr}]\nminutes: {1: [10], 2: [5], 3: [10]}\n", encoding="utf-8"
    )
    code, out, err = validate(capsys, "--config", str(config(tmp_path, "rules_dir: rules\n", notify="")))
    assert code == 2  # with a people file, the roles are checked against it
    assert f"{tmp_path / 'rules' / 'escalation.yaml'}:1: levels.0.role: not a known role" in err


def test_lifecycle_roles_are_checked_against_the_people_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules(tmp_path, **{"lifecycle.yaml": LIFECYCLE.replace("override_role: incident_manager", "override_role: boss")})
    code, _, err = validate(capsys, "--config", str(config(tmp_path, "rules_dir: rules\n", notify="")))
    assert code == 2
    assert f"{tmp_path / 'rules' / 'lifecycle.yaml'}:17: closing.override_role: not a known role" in err


# --- rules_dir is the whole book; notify.rules_dir still works -------------------------------------


def test_the_top_level_rules_dir_holds_the_ladder_and_the_notices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ladder = (
        (shipped_rules_dir() / "escalation.yaml")
        .read_text(encoding="utf-8")
        .replace("1: [10, 15, 30]", "1: [20, 25, 40]")
    )
    rules(tmp_path, **{"escalation.yaml": ladder})
    book = load_rulebook(tmp_path / "rules")
    assert [s.after.seconds // 60 for s in book.escalation.ladder(Priority.HIGHEST)] == [20, 25, 40]
    assert book.files["notifications.yaml"] == shipped_rules_dir() / "notifications.yaml"
    assert default_rulebook().escalation.ladder(Priority.HIGHEST)[0].after.seconds // 60 == 10


def test_notify_rules_dir_still_supplies_the_ladder_and_is_reported_deprecated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ladder = (
        (shipped_rules_dir() / "escalation.yaml")
        .read_text(encoding="utf-8")
        .replace("1: [10, 15, 30]", "1: [20, 25, 40]")
    )
    rules(tmp_path, **{"escalation.yaml": ladder, "people-notes.yaml": "anything: here\n"})
    path = config(tmp_path, notify="  rules_dir: rules\n")
    code, out, err = validate(capsys, "--config", str(path))
    assert code == 0 and "OK" in out
    assert f"{path}:9: warning: notify.rules_dir is deprecated: move it to the top-level rules_dir" in err

    from connector.contracts.plugin_manager import build_plugin_manager
    from connector.runtime.app import load

    loaded, _ = load(path, build_plugin_manager())
    book = loaded.rulebook()
    assert book.files["escalation.yaml"] == tmp_path / "rules" / "escalation.yaml"
    assert book.files["classification.yaml"] == shipped_rules_dir() / "classification.yaml"  # only the two files
    assert book.escalation.ladder(Priority.HIGHEST)[0].after.seconds // 60 == 20


def test_both_rules_dirs_differing_is_reported_and_the_top_level_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "escalation.yaml").write_text("levels: 42\n", encoding="utf-8")  # no longer read
    rules(tmp_path, **{"lifecycle.yaml": LIFECYCLE})
    path = config(tmp_path, "rules_dir: rules\n", notify="  rules_dir: old\n")
    code, out, err = validate(capsys, "--config", str(path))
    assert code == 0 and "OK" in out
    assert (
        f"{path}:10: warning: notify.rules_dir ({old}) differs from rules_dir ({tmp_path / 'rules'}): rules_dir "
        "holds the whole rule book, escalation.yaml and notifications.yaml included; notify.rules_dir is ignored"
    ) in err

    same = config(tmp_path, "rules_dir: rules\n", notify="  rules_dir: ./rules\n")
    code, _, err = validate(capsys, "--config", str(same))
    assert code == 0 and "notify.rules_dir is deprecated and the same as rules_dir: remove it" in err


# --- lifecycle.yaml and replies.yaml -----------------------------------------------------------------


def test_the_closing_right_is_the_lifecycle_files() -> None:
    directory = Directory(load_people(PEOPLE_EXAMPLE))
    shipped = DirectoryRoster(directory)
    assert [shipped.may_close(login) for login in ("desk", "zhou.min", "liaoq", "zhangw", "sun.li", "nobody")] == [
        True,  # service_desk
        True,  # a handler of the first_line group
        True,  # the incident manager
        False,
        False,
        False,
    ]
    assert shipped.may_close(None) is None
    closing = load_lifecycle(
        LIFECYCLE.replace("roles: [service_desk]", "roles: [maintenance_manager]").replace(
            "first_line_groups: true", "first_line_groups: false"
        )
    ).closing
    site = DirectoryRoster(directory, closing)
    assert [site.may_close(login) for login in ("desk", "zhou.min", "liaoq", "zhangw", "sun.li")] == [
        False,
        False,
        True,  # the override role stays
        False,
        True,
    ]


def load_lifecycle(text: str) -> LifecycleFile:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lifecycle.yaml"
        path.write_text(text, encoding="utf-8")
        return load_model(path, LifecycleFile)


def test_a_reply_fills_its_placeholders_as_data() -> None:
    reply = default_rulebook().replies.refused_sender
    subject, text = reply.fill(title="{desk} <b>x</b> {{ 7*7 }}", desk="021-6000-8888")
    assert subject == "您的报告未被受理 Your report was not accepted"
    assert "您的邮件「{desk} <b>x</b> {{ 7*7 }}」未能登记" in text  # the title's own braces stay as written
    assert text.count("021-6000-8888") == 2
    assert ReplyText(subject="s", text="{title}").fill(title="t") == ("s", "t")


def test_schema_defaults_of_an_omitted_dedup_key_are_the_shipped_files() -> None:
    """A site's partial dedup.yaml takes the schema's default for a key it leaves out; those
    defaults must be the shipped file's values, so the seed's numbers cannot drift apart. (Only
    ``symptom`` differs: left out, titles are not normalised — docs/rules.md says so.)"""
    shipped = load_model(shipped_rules_dir() / "dedup.yaml", DedupFile)
    assert DedupFile().model_copy(update={"symptom": shipped.symptom}) == shipped
    assert DedupFile().symptom.replace == [] and shipped.symptom.replace


def test_the_refused_sender_is_answered_with_the_rule_books_text(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    """replies.yaml of the site's rules directory is what a refused sender reads; the hostile
    title is data in it, and escaped in the HTML part."""
    site = rules(
        tmp_path,
        **{"replies.yaml": "refused_sender:\n  subject: Refused\n  text: 'Not registered: {title}. Call {desk}.'\n"},
    )
    book = load_rulebook(site)
    sent: list[tuple[str, OutgoingMessage]] = []
    directory = Directory(load_people(PEOPLE_EXAMPLE))
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(pm, book),
        clock=clock,
        spool=Spool(tmp_path / "spool"),
    )
    renderer = Renderer(service_desk="desk 8888", directory=directory, language="en", timezone="Asia/Shanghai")
    channels = {"email": Channel("email", "email", Recorder("email", sent))}  # type: ignore[arg-type]
    engine.notifications = Notifications(directory, book.escalation, book.notices, renderer, channels)

    class Mailbox:
        name = "mail"
        acknowledge_enabled = False
        unknown_senders = "reject"

    engine.sources["mail"] = Mailbox()  # type: ignore[assignment]
    title = "<b>{desk}</b> printer"
    engine.ingest(
        "mail",
        [
            Alert(
                source="mail",
                external_id="m1",
                title=title,
                reporter="stranger@example.org",
                origin=TicketSource.USER_REPORT,
                occurred_at=clock.now(),
            )
        ],
    )
    engine.process_pending()
    engine.drain_outbox()
    [(channel, message)] = sent
    assert channel == "email" and message.subject == "Refused"
    assert message.text == "Not registered: <b>{desk}</b> printer. Call desk 8888."
    assert message.html == "<p>Not registered: &lt;b&gt;{desk}&lt;/b&gt; printer. Call desk 8888.</p>"


def test_the_commands_that_run_the_connector_log_the_rules_dir_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules(tmp_path, **{"lifecycle.yaml": LIFECYCLE})
    path = config(tmp_path, notify="  rules_dir: rules\n")
    assert main(["status", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"WARNING connector: {path}:9: warning: notify.rules_dir is deprecated" in err
