"""What a GLPI needs before the connector can write to it, checked — and where allowed,
created — then printed as the mapping an admin can read.

``inspect`` logs in (one session, killed at the end) and:

* checks that the urgency and impact values the maps write are enabled in GLPI's urgency and
  impact masks (GLPI silently stores a disabled value as 3, glpi-rest.md §4);
* looks up every node of the taxonomy (``Taxonomy.paths()``, parents first) as an ITIL
  category by complete name under ``category_root``, and with ``create_missing: true`` creates
  the missing ones under their parent (``itilcategories_id``), so the tree matches;
* looks up the configured assignment groups (they must be "assigned to" groups) and the
  request sources, creating missing request sources when allowed;
* checks that the configured entity exists.

Everything is listed once up front (paged by ``Content-Range``) and matched here, so a run
costs a handful of calls, not one per category; a second run finds what the first created and
changes nothing (idempotent).
"""

from __future__ import annotations

__all__ = ["Mapped", "SetupReport", "inspect", "setup_for_config"]

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests

from connector.domain.clock import Clock
from connector.domain.errors import BackendError
from connector.domain.models import TicketSource
from connector.integrations.glpi.backend import GlpiBackend
from connector.integrations.glpi.client import GlpiConfigError, GlpiUnavailable
from connector.integrations.glpi.lookup import iterate
from connector.integrations.glpi.schema import Created, Dropdown
from connector.integrations.glpi.settings import GlpiSettings, join_path
from connector.rules.taxonomy import Taxonomy, load_taxonomy
from connector.util.setup_report import Problem, display_width, problem_lines

State = Literal["found", "created", "pinned", "missing"]


@dataclass(frozen=True)
class Mapped:
    """One process value and the GLPI item it maps to."""

    kind: str  # "category", "group", "request source", "entity"
    name: str
    ident: int | None
    state: State
    note: str = ""


@dataclass
class SetupReport:
    """The result of ``inspect``: the mapping, the problems with remedies, and notes."""

    url: str
    mapping: list[Mapped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False only when the connector cannot write tickets at all (login, entity); missing
        categories, groups or request sources only leave those ids out of new tickets."""
        return not any(problem.required for problem in self.problems)

    def count(self, kind: str, state: State) -> int:
        """How many ``kind`` entries are in ``state``."""
        return sum(1 for m in self.mapping if m.kind == kind and m.state == state)

    def render(self) -> str:
        """The report as text for a terminal."""
        lines = [f"GLPI at {self.url}"]
        if self.mapping:
            lines += ["", "Mapping (process value → GLPI):"]
            width = max(display_width(f"{m.kind} {m.name}") for m in self.mapping)
            for m in self.mapping:
                label = f"{m.kind} {m.name}"
                target = f"#{m.ident}" if m.ident is not None else "-"
                note = f" ({m.note})" if m.note else ""
                lines.append(f"  {label}{' ' * (width - display_width(label))}  {target:>6}  {m.state}{note}")
            kinds = sorted({m.kind for m in self.mapping})
            summary = []
            for kind in kinds:
                counts = {s: self.count(kind, s) for s in ("found", "created", "pinned", "missing")}
                summary.append(f"{kind}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
            lines += ["", "Summary: " + "; ".join(summary)]
        lines += problem_lines(self.problems, self.notes)
        return "\n".join(lines) + "\n"


def _name(item: Dropdown, column: str) -> str:
    return html.unescape(getattr(item, column) or "").strip()


def _mask_enabled(mask: Any, value: int) -> bool:
    """GLPI enables value ``v`` of the urgency/impact scales when bit ``1 << v`` of the mask is
    set; 3 (medium) cannot be disabled."""
    if value == 3 or not isinstance(mask, int):
        return True
    return bool(mask & (1 << value))


class _Inspection:
    def __init__(self, backend: GlpiBackend, taxonomy: Taxonomy) -> None:
        self.backend = backend
        self.client = backend.client
        self.settings = backend.settings
        self.taxonomy = taxonomy
        self.report = SetupReport(url=self.settings.url)

    def run(self) -> SetupReport:
        self._masks()
        self._entity()
        self._categories()
        self._groups()
        self._request_sources()
        return self.report

    def _list(self, itemtype: str) -> list[Dropdown]:
        return list(iterate(self.client, f"{itemtype}/", list[Dropdown], {}))

    def _create(self, itemtype: str, item: dict[str, Any]) -> int:
        if self.settings.entity is not None:
            item.setdefault("entities_id", self.settings.entity)
        return self.client.post(f"{itemtype}/", {"input": item}, Created).id

    def _masks(self) -> None:
        config = self.client.get("getGlpiConfig", dict[str, Any]).get("cfg_glpi", {})
        for what, key, mapping in (
            ("urgency", "urgency_mask", self.settings.urgency_map),
            ("impact", "impact_mask", self.settings.impact_map),
        ):
            mask = config.get(key)
            off = sorted({glpi for glpi in mapping.values() if not _mask_enabled(mask, glpi)})
            if off:
                self.report.problems.append(
                    Problem(
                        what=f"GLPI {what} values {off} are disabled ({key} = {mask}); GLPI stores them as 3",
                        how=f"Setup › General › Assistance: enable them in the {what} list, or change "
                        f"backend.{what}_map to enabled values",
                        required=False,
                    )
                )

    def _entity(self) -> None:
        entity = self.settings.entity
        if entity is None:
            self.report.notes.append("new tickets go to the API user's active entity (set backend.entity to pin one)")
            return
        try:
            item = self.client.get(f"Entity/{entity}", Dropdown)
        except BackendError as exc:
            self.report.problems.append(
                Problem(
                    what=f"entity {entity} ({exc})",
                    how="fix backend.entity, or give the connector's user a profile on that entity (recursive)",
                    required=True,
                )
            )
            return
        self.report.mapping.append(
            Mapped("entity", _name(item, "completename") or _name(item, "name"), entity, "found")
        )

    def _categories(self) -> None:
        settings = self.settings
        existing = {_name(item, "completename"): item for item in self._list("ITILCategory")}
        by_id = {item.id: item for item in existing.values()}
        ids: dict[str, int] = {}
        wanted_type = "is_incident" if settings.ticket_type == "incident" else "is_request"
        nodes: list[tuple[str, ...]] = [(settings.category_root,)] if settings.category_root else []
        missing = 0
        for path in [*nodes, *self.taxonomy.paths()]:
            is_root = bool(nodes) and path == nodes[0]
            full = path if is_root else (((settings.category_root,) if settings.category_root else ()) + path)
            shown = join_path(path)
            complete = join_path(full)
            pinned = None if is_root else settings.categories.get(shown)
            if pinned is not None:
                state: State = "pinned" if pinned in by_id else "missing"
                note = "" if pinned in by_id else "the pinned id does not exist"
                self.report.mapping.append(Mapped("category", shown, pinned, state, note))
                ids[complete] = pinned
                continue
            item = existing.get(complete)
            if item is not None:
                ids[complete] = item.id
                note = ""
                if getattr(item, wanted_type) == 0:
                    note = f"not visible for {settings.ticket_type}s: tick it in the category's form"
                self.report.mapping.append(Mapped("category", shown, item.id, "found", note))
                continue
            parent = ids.get(join_path(full[:-1])) if len(full) > 1 else 0
            if settings.create_missing and parent is not None:
                created = self._create(
                    "ITILCategory",
                    {
                        "name": full[-1],
                        "itilcategories_id": parent,
                        "is_incident": 1,
                        "is_request": 1,
                        "is_recursive": 1,
                    },
                )
                ids[complete] = created
                self.report.mapping.append(Mapped("category", shown, created, "created"))
                continue
            missing += 1
            self.report.mapping.append(Mapped("category", shown, None, "missing"))
        if missing:
            self.report.problems.append(
                Problem(
                    what=f"{missing} ITIL categories of the taxonomy (under {settings.category_root or 'the top'})",
                    how="set backend.create_missing: true and run `itsm-connector setup glpi` again, or add them in "
                    "Setup › Dropdowns › ITIL categories (tickets of those categories are created without one)",
                    required=False,
                )
            )

    def _groups(self) -> None:
        groups = self.settings.groups
        if not groups:
            self.report.notes.append(
                "assignment groups are looked up by their own name as complete name; list them under "
                "backend.groups to check them here"
            )
            return
        listing = self._list("Group")
        by_name = {_name(item, "completename"): item for item in listing}
        by_id = {item.id: item for item in listing}
        for name, ref in groups.items():
            item = by_id.get(ref) if isinstance(ref, int) else by_name.get(ref)
            if item is None:
                self.report.mapping.append(Mapped("group", name, ref if isinstance(ref, int) else None, "missing"))
                self.report.problems.append(
                    Problem(
                        what=f"group {ref!r} (for assignment group {name!r})",
                        how="Administration › Groups › Add (tick 'Can be assigned'), or fix backend.groups",
                        required=False,
                    )
                )
                continue
            note = "" if item.is_assign != 0 else "cannot be assigned: tick 'Can be assigned' in the group"
            self.report.mapping.append(
                Mapped("group", name, item.id, "pinned" if isinstance(ref, int) else "found", note)
            )

    def _request_sources(self) -> None:
        listing = self._list("RequestType")
        by_name = {_name(item, "name"): item for item in listing}
        by_id = {item.id: item for item in listing}
        for source in TicketSource:
            ref = self.settings.request_sources.get(source)
            if ref is None:
                continue
            item = by_id.get(ref) if isinstance(ref, int) else by_name.get(ref)
            if item is not None:
                self.report.mapping.append(
                    Mapped("request source", source.value, item.id, "pinned" if isinstance(ref, int) else "found")
                )
            elif isinstance(ref, str) and self.settings.create_missing:
                created = self._create("RequestType", {"name": ref})
                by_name[ref] = Dropdown(id=created, name=ref)
                self.report.mapping.append(Mapped("request source", source.value, created, "created", ref))
            else:
                self.report.mapping.append(Mapped("request source", source.value, None, "missing", str(ref)))
                self.report.problems.append(
                    Problem(
                        what=f"request source {ref!r} (for {source.value})",
                        how="Setup › Dropdowns › Request sources › Add, or set backend.create_missing: true, or "
                        "change backend.request_sources",
                        required=False,
                    )
                )


def inspect(
    target: GlpiBackend | GlpiSettings,
    *,
    taxonomy: Taxonomy | None = None,
    clock: Clock | None = None,
    session: requests.Session | None = None,
) -> SetupReport:
    """Ask GLPI what it has for the connector (creating what ``create_missing`` allows) and
    report it; never raises for GLPI trouble (an unreachable server or a refused token is
    itself the report)."""
    backend = target if isinstance(target, GlpiBackend) else GlpiBackend(target, clock=clock, session=session)
    settings = backend.settings
    try:
        return _Inspection(backend, taxonomy or load_taxonomy()).run()
    except GlpiConfigError as exc:
        how = "fix the token, the API client or the profile right the message names"
        return SetupReport(url=settings.url, problems=[Problem(what=str(exc), how=how, required=True)])
    except GlpiUnavailable as exc:
        how = "check url and that GLPI is running and reachable from here"
        return SetupReport(url=settings.url, problems=[Problem(what=str(exc), how=how, required=True)])
    except BackendError as exc:
        return SetupReport(url=settings.url, problems=[Problem(what=str(exc), how="see the message", required=True)])
    finally:
        if backend is not target:
            backend.close()


def setup_for_config(settings: object, rules_dir: Path | None) -> SetupReport:
    """``itsm-connector setup glpi``: the report for a config's backend ``settings``, with the
    taxonomy of its rules directory (resolved, ``None`` for the shipped one) when that holds one."""
    path: Path | None = None
    if rules_dir is not None and (rules_dir / "taxonomy.yaml").is_file():
        path = rules_dir / "taxonomy.yaml"
    assert isinstance(settings, GlpiSettings)
    return inspect(settings, taxonomy=load_taxonomy(path))
