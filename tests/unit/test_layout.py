"""Small modules with one job: a module of ``connector`` longer than ``MAX_LINES`` must say why in
its docstring, on a line starting ``Why this module is long:``, so a long module is a decision
someone wrote down, not an accident nobody noticed."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
REASON = "Why this module is long:"

#: Long modules waiting for a split. Empty: do not add to it — split the module, or give the
#: reason in its docstring.
BEING_SPLIT: frozenset[str] = frozenset()


def gives_its_reason(source: str) -> bool:
    """Whether the module docstring has a line starting with ``REASON``."""
    docstring = ast.get_docstring(ast.parse(source)) or ""
    return any(line.strip().startswith(REASON) for line in docstring.splitlines())


def _long_modules() -> dict[str, int]:
    lengths = {}
    for path in sorted((ROOT / "connector").rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            lengths[path.relative_to(ROOT).as_posix()] = lines
    return lengths


def test_the_reason_is_read_from_the_module_docstring_only() -> None:
    assert gives_its_reason(f'"""Does one thing.\n\n{REASON} the protocol has 30 methods.\n"""\nx = 1\n')
    assert gives_its_reason(f'"""Does one thing.\n\n    {REASON} indented is fine.\n"""\n')
    assert not gives_its_reason('"""Does one thing."""\n')
    assert not gives_its_reason(f'"""Mentions it mid-line: {REASON} no."""\n')
    assert not gives_its_reason(f'"""Does one thing."""\n\n\ndef f() -> None:\n    """{REASON} not here."""\n')
    assert not gives_its_reason(f"# {REASON} a comment is not the docstring\nx = 1\n")


def test_every_long_module_says_why() -> None:
    unexplained = []
    for path, lines in _long_modules().items():
        if path in BEING_SPLIT:
            continue
        if not gives_its_reason((ROOT / path).read_text(encoding="utf-8")):
            unexplained.append(f"{path}: {lines} lines")
    assert not unexplained, (
        f"modules over {MAX_LINES} lines without a '{REASON}' line in their docstring "
        f"(split them into modules of one job, or write the reason): {unexplained}"
    )


def test_the_allow_list_holds_only_long_modules() -> None:
    """An entry that is short now (its split was merged) or gone must leave the list."""
    stale = sorted(BEING_SPLIT - set(_long_modules()))
    assert not stale, f"remove from BEING_SPLIT, they are {MAX_LINES} lines or fewer now (or gone): {stale}"
