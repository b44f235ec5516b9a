"""The Redmine 5 helpdesk backend, one job per module.

* ``settings`` — ``RedmineSettings``, the ``backend:`` config section;
* ``client``   — HTTP, and the one boundary where failures become connector errors;
* ``schema``   — the shapes of the Redmine answers that are read;
* ``lookup``   — ids by name (project, tracker, statuses, priorities, custom fields);
* ``render``   — the description and note text, safe against markup in alert text;
* ``ids``      — the resolved id table every write needs, or the refusal naming what is missing;
* ``values``   — pure: how ids, keys, subjects, relations, file names and times are spelled;
* ``payload``  — pure: the create and change bodies, and what Redmine ignored on a create;
* ``reading``  — pure: an issue's decoded fields and its snapshot;
* ``history``  — an issue's journals as the process's changes (``HistoryReader``), with
  ``journal`` (pure: journal details → changes) and ``principals`` (logins and groups by id);
* ``users``    — who an e-mail address belongs to (``UserDirectory``);
* ``backend``  — ``RedmineBackend``, the ``Backend`` protocol;
* ``wiki``     — the KPI report published as a wiki page with its files;
* ``setup``    — ``inspect`` / ``SetupReport`` and the ``rails runner`` script (not imported
  here, so ``python -m connector.integrations.redmine.setup`` runs it cleanly).
"""

from connector.integrations.redmine.backend import RedmineBackend
from connector.integrations.redmine.settings import RedmineSettings

__all__ = ["RedmineBackend", "RedmineSettings"]
