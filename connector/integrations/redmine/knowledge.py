"""Knowledge in Redmine (issue 13): knowledge-base candidates as wiki pages, and configuration
items as issues of a "CI" tracker (``backend.knowledge``; both off until configured).

**KB candidates.** One wiki page per ticket, ``<kb_title_prefix>_<issue id>`` (``KB_candidate_4711``),
a child of ``kb_wiki_parent`` (created when missing) in the tickets' project or
``kb_wiki_project``. Redmine's wiki has no "unpublished" state: a page under the parent *is* a
draft; people edit it and move it to the knowledge base (change its parent) to publish it
(docs/operations.md). Writing is idempotent without a marker: the page is looked up first and
a page already there is left alone, so a retry after a lost answer (a 500 after the commit)
writes nothing and people's edits are never overwritten. Every text of the ticket is untrusted
and goes into a literal block of the instance's text formatting (``render.literal_block``); the
headings are the connector's own labels.

**CIs.** With ``ci_tracker`` set, the incident is related (``relates``) to the issue of that
tracker whose subject is the ticket's CI (``ci_project`` narrows the search); the subject must
match exactly (Redmine's filter only narrows by "contains"). Found CI issues are cached; an
unknown CI is looked up again next time (it may be added). ::

    GET  /projects/<p>/wiki/<Title>.json        the candidate (404: not yet) and the parent
    PUT  /projects/<p>/wiki/<Title>.json        {wiki_page: {text, parent_title, comments}}
    GET  /trackers.json                         the CI tracker's id (once)
    GET  /issues.json?tracker_id=…&subject=~CI&status_id=*   the CI issue
    POST /issues/<id>/relations.json            relates (the backend's add_relation: a repeat is fine)
"""

from __future__ import annotations

__all__ = ["RedmineKnowledge", "kb_page_text", "kb_page_title"]

import re
import threading
from collections.abc import Callable
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from connector.contracts.adapters import Relation
from connector.domain.errors import BackendRejected
from connector.domain.knowledge import KbArticle
from connector.integrations.redmine.client import RedmineClient, RedmineRejected
from connector.integrations.redmine.render import literal_block
from connector.integrations.redmine.schema import IssueList, Trackers
from connector.integrations.redmine.settings import RedmineSettings, TextFormatting


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str


class _PageEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    wiki_page: _Page


def kb_page_title(prefix: str, ticket_id: str) -> str:
    """The page title of ticket ``ticket_id``'s candidate, in the form Redmine normalises titles
    to (no ``, . / ? ; | :``, blanks as ``_``, first letter upper-case), so a retry finds it."""
    title = re.sub(r"[,./?;|:]", "", re.sub(r"\s+", "_", f"{prefix.strip()}_{ticket_id}"))
    return title[:1].upper() + title[1:]


def kb_page_text(article: KbArticle, formatting: TextFormatting) -> str:
    """The candidate's wiki text: the connector's headings, the ticket's texts in literal blocks."""
    h1, h2 = ("h1. ", "h2. ") if formatting == "textile" else ("# ", "## ")
    about = "\n".join(
        line
        for line in (
            f"CI 配置项: {article.ci}" if article.ci else "",
            f"Category 类别: {article.category}" if article.category else "",
        )
        if line
    )
    sections = [
        f"{h1}知识库候选 KB candidate: #{article.ticket_id}",
        f"Written by itsm-connector when issue #{article.ticket_id} was closed successfully. Unpublished: "
        "edit it, then move it into the knowledge base to publish it. 草稿：编辑后移入知识库发布。",
        f"{h2}Title 标题",
        literal_block(article.title, formatting),
    ]
    if about:
        sections += [f"{h2}Configuration item 配置项", literal_block(about, formatting)]
    sections += [
        f"{h2}Symptom 症状",
        literal_block(article.symptom, formatting),
        f"{h2}Root cause 根本原因",
        literal_block(article.root_cause or "-", formatting),
        f"{h2}Solution 解决方案",
        literal_block(article.solution, formatting),
    ]
    return "\n\n".join(sections) + "\n"


class RedmineKnowledge:
    """The knowledge part of one Redmine backend (its client, its settings, its ``add_relation``)."""

    def __init__(
        self, client: RedmineClient, settings: RedmineSettings, relate: Callable[[str, str, Relation], None]
    ) -> None:
        self._client = client
        self._settings = settings
        self._relate = relate
        self._parent_ready = False
        self._tracker_id: int | None = None
        self._cis: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def kb_enabled(self) -> bool:
        """Whether a wiki parent page is configured."""
        return self._settings.knowledge.kb_wiki_parent is not None

    @property
    def ci_enabled(self) -> bool:
        """Whether a CI tracker is configured."""
        return self._settings.knowledge.ci_tracker is not None

    def _path(self, title: str) -> str:
        project = self._settings.knowledge.kb_wiki_project or self._settings.project
        return f"/projects/{quote(project, safe='')}/wiki/{quote(title, safe='')}.json"

    def _exists(self, title: str) -> bool:
        try:
            self._client.get(self._path(title), _PageEnvelope)
        except RedmineRejected as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def write_kb_candidate(self, article: KbArticle) -> str:
        """Write the candidate page unless it is there (see the module docstring); its title."""
        knowledge = self._settings.knowledge
        parent = knowledge.kb_wiki_parent
        if parent is None:
            raise BackendRejected("no kb_wiki_parent configured", backend="redmine", operation="kb_candidate")
        title = kb_page_title(knowledge.kb_title_prefix, article.ticket_id)
        if self._exists(title):
            return title
        self._ensure_parent(parent)
        text = kb_page_text(article, self._settings.text_formatting)
        comment = f"KB candidate of #{article.ticket_id} (itsm-connector)"
        self._client.put(self._path(title), {"wiki_page": {"text": text, "parent_title": parent, "comments": comment}})
        return title

    def _ensure_parent(self, parent: str) -> None:
        if self._parent_ready:
            return
        if not self._exists(parent):
            h1 = "h1. " if self._settings.text_formatting == "textile" else "# "
            text = (
                f"{h1}知识库候选 KB candidates\n\nKnowledge-base candidates itsm-connector wrote from successfully "
                "closed incidents: edit one, then move it into the knowledge base to publish it.\n"
            )
            self._client.put(self._path(parent), {"wiki_page": {"text": text, "comments": "itsm-connector"}})
        self._parent_ready = True

    def link_ci(self, ticket_id: str, ci: str) -> str | None:
        """Relate the issue to its CI's issue; ``#id`` of that issue, or ``None`` when there is none."""
        found = self._ci_issue(ci.strip())
        if found is None:
            return None
        self._relate(ticket_id, str(found), Relation.RELATES)
        return f"#{found}"

    def _ci_issue(self, ci: str) -> int | None:
        with self._lock:
            cached = self._cis.get(ci)
        if cached is not None:
            return cached
        params: dict[str, str | int] = {"tracker_id": self._ci_tracker(), "subject": f"~{ci}", "status_id": "*"}
        params["limit"] = 100
        project = self._settings.knowledge.ci_project
        if project is not None:
            params["project_id"] = project
        issues = self._client.get("/issues.json", IssueList, params).issues
        exact = sorted(issue.id for issue in issues if issue.subject.strip() == ci)
        if not exact:
            return None
        with self._lock:
            self._cis[ci] = exact[0]
        return exact[0]

    def _ci_tracker(self) -> int:
        if self._tracker_id is None:
            name = self._settings.knowledge.ci_tracker
            trackers = self._client.get("/trackers.json", Trackers).trackers
            found = next((t.id for t in trackers if t.name == name), None)
            if found is None:
                known = ", ".join(t.name for t in trackers)
                raise BackendRejected(
                    f"no tracker {name!r} (backend.knowledge.ci_tracker); trackers: {known}",
                    backend="redmine",
                    operation="GET /trackers.json",
                )
            self._tracker_id = found
        return self._tracker_id
