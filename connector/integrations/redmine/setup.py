"""What a Redmine needs before the connector can write to it, checked and explained.

``inspect`` asks the live Redmine (project, tracker, statuses, priorities, custom fields) and
returns a ``SetupReport`` that lists what was found with its id and what is missing with the
exact admin steps to add it. Redmine 5's REST API cannot create custom fields, so
``rails_script`` writes the Ruby that creates the missing ones with ``rails runner``::

    python -m connector.integrations.redmine.setup --rails-script > fields.rb
    cd /usr/share/redmine && RAILS_ENV=production bin/rails runner fields.rb

The script is idempotent: a field that already exists (by name) is left as it is.
"""

from __future__ import annotations

__all__ = ["SetupReport", "inspect", "main", "rails_script"]

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from connector.domain.errors import BackendError
from connector.domain.fields import CATALOGUE, FieldSpec
from connector.integrations.redmine.backend import RedmineBackend
from connector.integrations.redmine.client import RedmineUnavailable
from connector.integrations.redmine.lookup import Discovery
from connector.integrations.redmine.settings import RedmineSettings
from connector.util.setup_report import Problem, display_width, problem_lines


@dataclass
class SetupReport:
    """The result of ``inspect``: ``found`` as (what, id) lines, ``problems`` with remedies."""

    url: str
    found: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False only when something required is missing (project, tracker, mapped statuses and
        priorities, the External ID field); optional custom fields only warn."""
        return not any(problem.required for problem in self.problems)

    def render(self) -> str:
        """The report as text for a terminal."""
        lines = [f"Redmine at {self.url}"]
        if self.found:
            lines.append("")
            lines.append("Found:")
            width = max(display_width(what) for what, _ in self.found)
            lines.extend(f"  {what}{' ' * (width - display_width(what))}  {ident}" for what, ident in self.found)
        lines += problem_lines(self.problems, self.notes)
        return "\n".join(lines) + "\n"


def _from_discovery(found: Discovery, settings: RedmineSettings) -> SetupReport:
    report = SetupReport(url=settings.url, problems=list(found.problems))
    role = "admin" if found.user_admin else "not admin"
    report.found.append((f"API user {found.user_login!r} ({role})", "REST API enabled, key accepted"))
    if found.project_id is not None:
        report.found.append((f"project {found.project_name!r} ({settings.project})", f"id {found.project_id}"))
    if found.tracker_id is not None:
        report.found.append((f"tracker {found.tracker_name!r}", f"id {found.tracker_id}"))
    for process_status, status in found.statuses.items():
        closed = ", closed" if status.is_closed else ""
        report.found.append((f"status {status.name!r} for {process_status.value}", f"id {status.id}{closed}"))
    for priority, ref in found.priorities.items():
        report.found.append((f"priority {ref.name!r} for {int(priority)}", f"id {ref.id}"))
    for key, info in found.fields.items():
        details = [f"id {info.id}"]
        if info.field_format:
            details.append(info.field_format)
        if info.is_filter:
            details.append("filter")
        report.found.append((f"custom field {info.name!r} ({key})", ", ".join(details)))
    if found.fields_source:
        report.notes.append(f"custom fields were read from {found.fields_source}")
    if any(problem.what.startswith("custom field") for problem in found.problems):
        report.notes.append(
            "Redmine's REST API cannot create custom fields; to create all missing ones at once, run "
            "`python -m connector.integrations.redmine.setup --rails-script > fields.rb` "
            "and then, on the Redmine host, "
            "`cd /usr/share/redmine && RAILS_ENV=production bin/rails runner fields.rb` (existing fields "
            "are kept; it uses the default names)"
        )
    return report


def inspect(target: RedmineBackend | RedmineSettings) -> SetupReport:
    """Ask the Redmine what it has for the connector and report it; never raises for Redmine
    trouble (an unreachable server or a refused key is itself the report)."""
    backend = target if isinstance(target, RedmineBackend) else RedmineBackend(target, name="redmine")
    settings = backend.settings
    try:
        return _from_discovery(backend.discover(), settings)
    except RedmineUnavailable as exc:
        how = {
            401: "check api_key: My account › API access key (Show / Reset) of the connector's user",
            403: "enable Administration › Settings › API › 'Enable REST web service' (and check the "
            "user is not locked)",
        }.get(exc.status or 0, "check url and that Redmine is running and reachable from here")
        return SetupReport(url=settings.url, problems=[Problem(what=str(exc), how=how, required=True)])
    except BackendError as exc:
        return SetupReport(url=settings.url, problems=[Problem(what=str(exc), how="see the message", required=True)])
    finally:
        if backend is not target:
            backend.close()


_RUBY = """\
# Creates the issue custom fields itsm-connector uses; fields that exist (by name) are kept.
# Generated by: python -m connector.integrations.redmine.setup --rails-script
# Run: cd /usr/share/redmine && RAILS_ENV=production bin/rails runner THIS_FILE
require 'json'
specs = JSON.parse(<<'ITSM_CONNECTOR_FIELDS')
{specs}
ITSM_CONNECTOR_FIELDS
trackers = Tracker.sorted.to_a
specs.each do |spec|
  cf = IssueCustomField.find_by_name(spec['name'])
  if cf
    puts "exists  ##{{cf.id}} #{{cf.name}} (#{{cf.field_format}})"
    if spec['is_filter'] && !cf.is_filter
      puts "WARNING ##{{cf.id}} #{{cf.name}} is not 'Used as a filter'; the connector needs it to be"
    end
    next
  end
  cf = IssueCustomField.create!(
    name: spec['name'], field_format: spec['field_format'], is_for_all: true, visible: true,
    is_filter: spec['is_filter'], searchable: spec['searchable'], trackers: trackers)
  puts "created ##{{cf.id}} #{{cf.name}} (#{{cf.field_format}})"
end
"""


def rails_script(specs: Iterable[FieldSpec] = CATALOGUE, names: dict[str, str | None] | None = None) -> str:
    """Ruby for ``rails runner`` that creates the given custom fields when missing.

    Each field is created "For all projects", for every tracker, visible; the External ID also
    "Used as a filter". ``names`` (``RedmineSettings.field_names()``) renames fields, and a
    ``None`` name leaves the field out. The field list travels as JSON in a quoted heredoc, so
    no name can break out into Ruby code.
    """
    rows = []
    for spec in specs:
        name = (names or {}).get(spec.key, spec.name)
        if name is None:
            continue
        rows.append(
            {
                "key": spec.key,
                "name": name,
                "field_format": spec.field_format,
                "is_filter": spec.is_filter,
                "searchable": spec.searchable,
            }
        )
    body = "[\n" + ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n]"
    return _RUBY.format(specs=body)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m connector.integrations.redmine.setup --rails-script``: print the Ruby for the default
    catalogue (used by ``scripts/services/redmine.sh fields``)."""
    parser = argparse.ArgumentParser(
        prog="python -m connector.integrations.redmine.setup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rails-script",
        action="store_true",
        required=True,
        help="print the rails-runner script that creates the connector's custom fields",
    )
    parser.parse_args(argv)
    sys.stdout.write(rails_script())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
