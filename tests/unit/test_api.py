"""``connector.api``, the plugin authors' surface: re-exports only, complete for the hook contract
and the adapter protocols, never imported by the host, and the only connector import of every
example in docs/plugins.md (each example also runs as a plugin)."""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import connector.api as api
from connector.contracts import adapters, hookspecs, notifiers
from connector.contracts.plugin_manager import build_plugin_manager, check_contract
from connector.domain import errors

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "connector"
API = "connector.api"


def connector_imports(source: str, module: str = "") -> set[str]:
    """Every ``connector`` module a piece of code imports, spelled out: ``import connector.x``
    gives ``connector.x``; ``from connector.x import y`` gives ``connector.x`` and ``connector.x.y``
    (``y`` may be a module); a relative import is resolved against ``module``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts[: len(parts) - node.level]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "connector" or name.startswith("connector.")}


def outside_the_api(source: str, module: str = "") -> set[str]:
    """The ``connector`` imports of ``source`` that do not go through ``connector.api``."""
    return {name for name in connector_imports(source, module) if name != API and not name.startswith(API + ".")}


def test_the_import_check_sees_every_spelling() -> None:
    assert outside_the_api("from connector.api import Alert, hookimpl\nimport json") == set()
    assert outside_the_api("import connector.api") == set()
    assert outside_the_api("from connector import hookimpl") == {"connector", "connector.hookimpl"}
    assert "connector.domain.models" in outside_the_api("from connector.domain.models import Alert")
    assert "connector.domain" in outside_the_api("def f():\n    import connector.domain\n")
    assert connector_imports("from .. import api", "connector.domain.clock") == {"connector", API}


# --- the module ----------------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(api) if not name.startswith("_")} - {"annotations"}  # the __future__ import
    assert set(api.__all__) == public
    assert len(api.__all__) == len(set(api.__all__))


def test_the_api_holds_no_logic() -> None:
    """Re-exports, ``__all__`` and the docstring: a behaviour defined here would have two homes."""
    tree = ast.parse((PACKAGE / "api.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and (
            node.module == "__future__" or (node.module or "").startswith("connector.")
        ):
            continue
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]:
            continue
        pytest.fail(f"connector/api.py:{node.lineno}: {ast.dump(node)[:80]} is not a re-export")


def test_the_docstring_promises_stability() -> None:
    doc = api.__doc__ or ""
    assert "stable surface" in doc and "major version" in doc


def _annotation_names(annotation: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", annotation))


def test_every_type_of_the_hook_contract_is_in_the_api() -> None:
    """A plugin can annotate every hook it implements without reaching inside."""
    hooks = {name: obj for name, obj in vars(hookspecs).items() if hasattr(obj, "itsm_connector_spec")}
    assert len(hooks) >= 7
    needed: set[str] = set()
    for hook in hooks.values():
        signature = inspect.signature(hook)
        needed |= _annotation_names(str(signature.return_annotation))
        for parameter in signature.parameters.values():
            needed |= _annotation_names(str(parameter.annotation))
    needed -= set(dir(builtins)) | {"datetime"}  # the standard library's, imported from there
    assert needed, "no annotations read"
    assert needed <= set(api.__all__), f"hook types missing from connector.api: {sorted(needed - set(api.__all__))}"


@pytest.mark.parametrize("module", [adapters, notifiers, errors], ids=lambda m: m.__name__)
def test_every_contract_type_and_error_is_in_the_api(module: types.ModuleType) -> None:
    """Adapter and notifier protocols, their registration types, and the error tree."""
    missing = set(module.__all__) - set(api.__all__)
    assert not missing, f"{module.__name__} names missing from connector.api: {sorted(missing)}"


def test_hookimpl_is_the_one_the_host_checks() -> None:
    assert api.hookimpl is hookspecs.hookimpl
    assert api.ENTRY_POINT_GROUP == hookspecs.PROJECT == "itsm_connector"


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def test_nothing_in_connector_imports_the_api() -> None:
    """The import-linter contract ``api`` says the same for the packages it lists; this covers
    ``connector/__init__.py`` and any package added later."""
    offenders = []
    for module, path in _modules():
        if module == API:
            continue
        # a package's relative imports are relative to the package itself
        anchor = f"{module}.__init__" if path.name == "__init__.py" else module
        imported = connector_imports(path.read_text(encoding="utf-8"), anchor)
        if any(name == API or name.startswith(API + ".") for name in imported):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    assert sum(1 for _ in _modules()) > 100  # the walk saw the package


# --- docs/plugins.md -----------------------------------------------------------------------------


def _python_blocks() -> list[tuple[int, str]]:
    """(line, code) of every ```python block of docs/plugins.md."""
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group(1))
        for match in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.M | re.S)
    ]


def test_every_doc_example_imports_from_the_api_only() -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 6, "docs/plugins.md lost its examples"
    for line, code in blocks:
        assert outside_the_api(code) == set(), f"docs/plugins.md:{line}: imports {outside_the_api(code)}"
        if re.search(r"\b(hookimpl|Alert|Ticket|Decision)\b", code):
            assert API in connector_imports(code), f"docs/plugins.md:{line}: uses the API without importing it"


def test_every_doc_example_runs_as_a_plugin(tmp_path: Path) -> None:
    """Each example is a whole module: it runs, registers, and its hooks are in the contract
    (a misspelled hook fails here) and answer without error."""
    for line, code in _python_blocks():
        module = types.ModuleType(f"plugins_md_line_{line}")
        exec(compile(code, f"docs/plugins.md:{line}", "exec"), module.__dict__)
        pm = build_plugin_manager()
        pm.register(module, name=module.__name__)
        check_contract(pm)
        hooks = [caller.name for caller in pm.get_hookcallers(module) or []]
        for name in hooks:
            if name.startswith("register_"):
                offered = [t for group in getattr(pm.hook, name)() for t in group]
                assert offered, f"docs/plugins.md:{line}: {name} offers nothing"
        assert hooks or "hookimpl" not in code, f"docs/plugins.md:{line}: no hook registered"


def test_the_doc_names_the_api_and_the_entry_point_group() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert "[project.entry-points.itsm_connector]" in text
    assert "`connector.api`" in text
