"""Rule files: the shipped ones are the seed's tables and load cleanly; every kind of mistake in a
site's file is reported as file:line: reason, all at once, and nothing half-loads."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from connector.cli.main import main
from connector.domain.errors import ConfigError
from connector.domain.models import Impact, Priority, TicketSource, Urgency
from connector.rules.loading import RULE_FILES, default_rulebook, load_rulebook, shipped_rules_dir
from connector.rules.sla import Stage

DEFAULT_POLICY = default_rulebook().sla  # the shipped sla.yaml

DEFAULT_RULE = """\
  - id: default
    set: {category: 其他}
"""


def rules_dir(tmp_path: Path, **files: str) -> Path:
    """A rules directory holding the given files (name without .yaml → text)."""
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return directory


def problems(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_rulebook(directory)
    return [str(p) for p in caught.value.problems]


# --- the shipped rules ---------------------------------------------------------------------------


def test_shipped_rules_load_without_warnings() -> None:
    book = load_rulebook(None)
    assert book.warnings == ()
    assert set(book.files) == set(RULE_FILES)
    assert all(path.parent == shipped_rules_dir() for path in book.files.values())


def test_shipped_sla_is_the_seeds_table_and_matches_the_code_default() -> None:
    sla = default_rulebook().sla
    assert sla.targets == DEFAULT_POLICY.targets
    assert sla.restore == DEFAULT_POLICY.restore
    assert sla.target(Stage.RESPONSE, Priority.HIGHEST, Urgency.NORMAL).warning == timedelta(minutes=5)
    assert sla.target(Stage.RESOLUTION, Priority.LOW, Urgency.NORMAL).breach == timedelta(hours=2)  # P4 = P3
    assert sla.suspended_time_counts is False


def test_shipped_priority_tables() -> None:
    priority = default_rulebook().priority
    assert priority.severity[5] == (Impact.VERY_IMPORTANT, Urgency.VERY_URGENT)
    assert priority.severity[4] == (Impact.SEVERE, Urgency.URGENT)
    assert priority.default == (Impact.GENERAL, Urgency.NORMAL)
    assert {name: (int(lv.impact), int(lv.urgency)) for name, lv in priority.levels.items()} == {
        "vip": (1, 1),
        "major": (2, 2),
        "general": (3, 3),
        "minor": (4, 4),
    }
    assert priority.label(Priority.HIGHEST) == "P1 最高"


def test_shipped_dedup_defaults_are_the_process_decisions() -> None:
    dedup = default_rulebook().dedup
    assert dedup.window == timedelta(minutes=60)
    assert dedup.recurrence_window == timedelta(days=7)
    assert dedup.policy == "duplicate"
    assert dedup.fingerprint.fields_for("zabbix", TicketSource.MONITORING) == ("ci", "symptom")
    assert dedup.fingerprint.symptom("CPU 93% on web01") == dedup.fingerprint.symptom("cpu 97%  on web01")


def test_a_directory_overrides_only_the_files_it_has(tmp_path: Path) -> None:
    directory = rules_dir(tmp_path, dedup="window_minutes: 30\n")
    book = load_rulebook(directory)
    assert book.dedup.window == timedelta(minutes=30)
    assert book.files["dedup.yaml"] == directory / "dedup.yaml"
    assert book.files["sla.yaml"].parent == shipped_rules_dir()
    assert len(book.classifier.rules) == len(default_rulebook().classifier.rules)


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope") == [f"{tmp_path / 'nope'}: rules directory does not exist"]


# --- priority.yaml -------------------------------------------------------------------------------


def test_matrix_must_be_four_by_four_with_values_one_to_four(tmp_path: Path) -> None:
    directory = rules_dir(
        tmp_path,
        priority="""
        matrix:
          - [1, 2, 2, 3]
          - [2, 2, 3]
          - [2, 3, 3, 5]
          - [3, 3, 4, 4]
        """,
    )
    found = problems(directory)
    path = directory / "priority.yaml"
    assert found[0].startswith(f"{path}:3: matrix.1: List should have at least 4 items")
    assert found[1].startswith(f"{path}:4: matrix.2.3: Input should be less than or equal to 4 (got 5)")
    assert len(found) == 2


def test_matrix_with_three_rows(tmp_path: Path) -> None:
    directory = rules_dir(tmp_path, priority="matrix:\n  - [1, 2, 2, 3]\n  - [2, 2, 3, 3]\n  - [2, 3, 3, 4]\n")
    (found,) = problems(directory)
    assert found.startswith(f"{directory / 'priority.yaml'}:1: matrix: List should have at least 4 items")


def test_unknown_key_with_a_suggestion(tmp_path: Path) -> None:
    text = (shipped_rules_dir() / "priority.yaml").read_text(encoding="utf-8").replace("severity:", "severty:")
    directory = rules_dir(tmp_path, priority=text)
    (found,) = problems(directory)
    line = text.splitlines().index("severty:") + 1
    assert found == f"{directory / 'priority.yaml'}:{line}: unknown key 'severty' (did you mean 'severity'?)"


# --- classification.yaml -------------------------------------------------------------------------


def test_bad_regex_is_reported_with_its_line(tmp_path: Path) -> None:
    directory = rules_dir(
        tmp_path,
        classification=textwrap.dedent(
            """
        rules:
          - id: broken
            match:
              title: 'disk (full'
            set: {category: 服务器}
        """
        )
        + DEFAULT_RULE,
    )
    (found,) = problems(directory)
    assert found.startswith(f"{directory / 'classification.yaml'}:4: rules.0.match.title: bad regular expression")
    assert "missing )" in found


def test_category_not_in_the_taxonomy_with_a_suggestion(tmp_path: Path) -> None:
    directory = rules_dir(
        tmp_path,
        classification=textwrap.dedent(
            """
        rules:
          - id: net
            match: {ci: sw}
            set:
              category: 网络络
          - id: app
            match: {ci: app}
            set:
              category: 应用系统
              area: 财务系统
          - id: module
            match: {ci: gl}
            set: {category: 应用系统, area: 财务管理系统, subarea: 总账}
          - id: nature
            match: {ci: x}
            set: {nature: 失败/系统坏了}
        """
        )
        + DEFAULT_RULE,
    )
    path = directory / "classification.yaml"
    assert problems(directory) == [
        f"{path}:5: rule 'net': category '网络络' is not in the taxonomy (did you mean '网络'?)",
        f"{path}:10: rule 'app': area '财务系统' is not under category '应用系统' in the taxonomy",
        f"{path}:13: rule 'module': sub-area '总账' is not under 应用系统/财务管理系统 in the taxonomy",
        f"{path}:16: rule 'nature': nature '失败/系统坏了' is not in the taxonomy (did you mean '失败/系统故障'?)",
    ]


def test_unknown_level_duplicate_id_level_with_impact_and_no_default(tmp_path: Path) -> None:
    directory = rules_dir(
        tmp_path,
        classification="""
        rules:
          - id: a
            match: {ci: a}
            set: {level: majr}
          - id: a
            match: {ci: b}
            set: {level: major, impact: 1}
          - id: last
            match: {ci: c}
            set: {categroy: 其他}
        """,
    )
    path = directory / "classification.yaml"
    found = problems(directory)
    assert f"{path}:7: rules.1.set: give a level or impact/urgency, not both" in found
    assert f"{path}:10: unknown key 'rules.2.set.categroy' (did you mean 'category'?)" in found
    assert len(found) == 2  # the model pass failed: the cross-file pass does not run on half a file


def test_cross_file_problems_all_at_once(tmp_path: Path) -> None:
    directory = rules_dir(
        tmp_path,
        classification="""
        rules:
          - id: a
            match: {ci: a}
            set: {level: majr}
          - id: a
            match: {ci: b}
            set: {category: 其他}
          - id: last
            match: {ci: c}
            set: {category: 其他}
        """,
    )
    path = directory / "classification.yaml"
    assert problems(directory) == [
        f"{path}:4: rule 'a': level 'majr' is not in priority.yaml (did you mean 'major'?)",
        f"{path}:5: rule id 'a' is used twice (first at line 2)",
        f"{path}:8: the last rule ('last') must be the default: no `match` and no `continue`, so every alert is "
        "classified",
    ]


def test_problems_of_several_files_are_reported_together(tmp_path: Path) -> None:
    directory = rules_dir(
        tmp_path,
        dedup="window_minutes: -5\npolicy: merge\n",
        sla="targets:\n  2:\n    response: {breach: 15}\n    acceptance: {breach: 30}\n    resolution: {breach: 60}\n"
        "restore_hours: {1: 8, 2: 24, 3: 48}\n",
    )
    found = problems(directory)
    dedup, sla = directory / "dedup.yaml", directory / "sla.yaml"
    assert f"{dedup}:1: window_minutes: Input should be greater than 0 (got -5)" in found
    assert any(p.startswith(f"{dedup}:2: policy: Input should be 'duplicate' or 'append'") for p in found)
    assert any(
        p.startswith(f"{sla}:2: targets: Value error, priority 1 needs targets") or "priority 1 needs" in p
        for p in found
    )
    assert any("no restore deadline for urgency 4" in p for p in found)


def test_sla_warning_after_breach_and_unknown_fingerprint_field(tmp_path: Path) -> None:
    directory = rules_dir(
        tmp_path,
        sla="""
        targets:
          1:
            response: {warning: 12, breach: 10}
            acceptance: {breach: 15}
            resolution: {breach: 30}
        restore_hours: {1: 8, 2: 24, 3: 48, 4: 72}
        """,
        dedup="fingerprint:\n  monitoring: [ci, sympton]\n",
    )
    found = problems(directory)
    assert any(p.startswith(f"{directory / 'sla.yaml'}:3:") and "warning 12 is after breach 10" in p for p in found)
    assert any(
        p.startswith(f"{directory / 'dedup.yaml'}:2:") and "unknown fingerprint field 'sympton'" in p for p in found
    )


def test_yaml_syntax_and_duplicate_keys(tmp_path: Path) -> None:
    directory = rules_dir(tmp_path, dedup="window_minutes: 30\nwindow_minutes: 40\n")
    (found,) = problems(directory)
    assert found.startswith(f"{directory / 'dedup.yaml'}:2: YAML syntax:") and "duplicate key 'window_minutes'" in found


def test_a_typo_never_half_loads(tmp_path: Path) -> None:
    """One bad file among good ones: the whole load fails; nothing of the good ones is returned."""
    directory = rules_dir(tmp_path, dedup="window_minutes: 5\n", priority="matrix: nope\n")
    with pytest.raises(ConfigError):
        load_rulebook(directory)
    (directory / "priority.yaml").unlink()
    assert load_rulebook(directory).dedup.window == timedelta(minutes=5)


# --- warnings ------------------------------------------------------------------------------------


def test_unreachable_overlapping_and_idle_rules_warn(tmp_path: Path) -> None:
    directory = rules_dir(
        tmp_path,
        classification="""
        rules:
          - id: wide
            match: {severity: [4, 5]}
            set: {category: 服务器}
          - id: narrow
            match: {severity: 5, ci: db}
            set: {category: 网络}
          - id: sibling
            match: {severity: [3, 5], title: x}
            set: {category: 网络}
          - id: idle
            match: {ci: web}
            continue: true
          - id: all
            set: {category: 其他}
          - id: after-default
            match: {ci: late}
            set: {category: 其他}
          - id: default
            set: {category: 其他}
        """,
    )
    book = load_rulebook(directory)
    path = directory / "classification.yaml"
    assert [str(w) for w in book.warnings] == [
        f"{path}:5: warning: rule 'narrow' can never match: rule 'wide' (line 2) matches every alert it does, "
        "and the first match wins",
        f"{path}:8: warning: rule 'sibling' overlaps rule 'wide' (line 2) on severity 5: an alert matching both "
        "is classified by 'wide' (the first match wins)",
        f"{path}:11: warning: rule 'idle' continues but sets nothing",
        f"{path}:16: warning: rule 'after-default' can never match: rule 'all' (line 14) matches every alert it "
        "does, and the first match wins",
        f"{path}:19: warning: rule 'default' can never match: rule 'all' (line 14) matches every alert it does, "
        "and the first match wins",
    ]


def test_validate_prints_errors_and_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = rules_dir(
        tmp_path,
        classification=textwrap.dedent(
            """
            rules:
              - id: a
                match: {ci: web}
                set: {category: 服务器}
              - id: b
                match: {ci: web}
                set: {category: 网络}
            """
        )
        + DEFAULT_RULE,
    )
    assert main(["validate", "--rules", str(good)]) == 0
    out, err = capsys.readouterr()
    assert "rules (" in out and "OK — 3 classification rules, 1 warning(s)" in out
    assert f"{good / 'classification.yaml'}:5: warning: rule 'b' can never match: rule 'a' (line 2)" in err
    (good / "classification.yaml").write_text("rules:\n  - id: x\n    match: {title: '('}\n", encoding="utf-8")
    assert main(["validate", "--rules", str(good)]) == 2
    out, err = capsys.readouterr()
    assert f"{good / 'classification.yaml'}:3: rules.0.match.title: bad regular expression" in err


def test_validate_needs_something_to_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 2
    assert "give --config FILE and/or --rules DIR" in capsys.readouterr().err
