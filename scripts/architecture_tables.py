"""Rewrite the module tables of docs/architecture.md from the modules' own docstrings.

``python scripts/architecture_tables.py`` replaces what stands between ``<!-- modules:begin -->``
and ``<!-- modules:end -->`` with one table per package of ``connector`` (the layers from the
bottom up), each row the first paragraph of a module's docstring. Run it after adding, moving or
re-describing a module; ``tests/unit/test_architecture_doc.py`` fails while a module has no row.
``--check`` exits 1 when the file is not up to date, without writing it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "connector"
ORDER = ("domain", "util", "rules", "state", "contracts", "notify", "kpi", "process", "integrations", "runtime",
         "plugins", "cli")
BEGIN, END = "<!-- modules:begin -->", "<!-- modules:end -->"
WIDTH = 260


def _first_paragraph(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    text = " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|")
    return text if len(text) <= WIDTH else text[: WIDTH - 3].rsplit(" ", 1)[0] + " …"


def tables() -> str:
    """The generated section, markers included."""
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    order = [p for p in ORDER if p in packages] + [p for p in packages if p not in ORDER]
    out = [BEGIN]
    for name in order:
        base = PACKAGE / name
        out += ["", f"### `connector/{name}/`", "", _first_paragraph(base / "__init__.py"), ""]
        out += ["| module | what it holds |", "|---|---|"]
        for module in sorted(base.rglob("*.py")):
            if module == base / "__init__.py":
                continue
            out.append(f"| `{module.relative_to(base).as_posix()}` | {_first_paragraph(module)} |")
    out += ["", END]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/architecture.md is stale")
    args = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + tables() + text[end:]
    if args.check:
        return 0 if new == text else 1
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
