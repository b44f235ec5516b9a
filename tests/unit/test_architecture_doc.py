"""docs/architecture.md draws the layers that `.importlinter` enforces: the same ones, in the same order.

The picture is what a newcomer reads to find where a change goes; the contract is what CI checks.
If one moves without the other, this test says which line differs.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import connector

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(connector.__file__).parent


def _contract_layers() -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter", encoding="utf-8")
    raw = config["importlinter:contract:layers"]["layers"]
    return [" | ".join(part.strip() for part in line.split("|")) for line in raw.strip().splitlines()]


def _doc_layers() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- layers:.*?-->\s*```text\n(.*?)```", text, re.DOTALL)
    assert block, "docs/architecture.md has no layers block (<!-- layers --> then ```text)"
    layers = []
    for line in block.group(1).splitlines():
        names = re.findall(r"connector\.\w+", line.split("  ")[0]) if line.startswith("connector.") else []
        if names:
            layers.append(" | ".join(names))
    return layers


def test_the_picture_lists_the_enforced_layers_in_order() -> None:
    assert _doc_layers() == _contract_layers()


def test_every_package_of_connector_is_in_a_layer() -> None:
    """A new top-level package must be placed in the architecture, not left outside every contract."""
    layered = {name.removeprefix("connector.") for line in _contract_layers() for name in line.split(" | ")}
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert packages - layered == set(), "packages outside the layers of .importlinter"


def test_every_module_has_its_row() -> None:
    """The module tables name every module of every package, under that package's heading."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"### `connector/(\w+)/`\n(.*?)(?=\n### |\n## |\Z)", text, re.DOTALL))
    missing = []
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        package = init.parent
        rows = sections.get(package.name, "")
        for module in sorted(package.rglob("*.py")):
            relative = module.relative_to(package).as_posix()
            if module != init and f"| `{relative}` |" not in rows:
                missing.append(f"connector/{package.name}/{relative}")
    assert missing == [], "modules without a row in docs/architecture.md"
