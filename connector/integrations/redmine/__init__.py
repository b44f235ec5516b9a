"""The Redmine 5 helpdesk backend, one job per module.

* ``settings`` — ``RedmineSettings``, the ``backend:`` config section;
* ``fields``   — the catalogue of custom fields and how values are written as text;
* ``client``   — HTTP, and the one boundary where failures become connector errors;
* ``schema``   — the shapes of the Redmine answers that are read;
* ``lookup``   — ids by name (project, tracker, statuses, priorities, custom fields);
* ``render``   — the description and note text, safe against markup in alert text;
* ``backend``  — ``RedmineBackend``, the ``Backend`` protocol;
* ``setup``    — ``inspect`` / ``SetupReport`` and the ``rails runner`` script (not imported
  here, so ``python -m connector.integrations.redmine.setup`` runs it cleanly).
"""

from connector.integrations.redmine.backend import RedmineBackend
from connector.integrations.redmine.settings import RedmineSettings

__all__ = ["RedmineBackend", "RedmineSettings"]
