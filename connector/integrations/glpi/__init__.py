"""The GLPI 10 helpdesk backend (legacy REST API, ``apirest.php``), one job per module.

* ``settings`` — ``GlpiSettings``, the ``backend:`` config section, and the value maps;
* ``client``   — HTTP and the GLPI session, the one boundary where failures become connector errors;
* ``errors``   — what a failed answer becomes (``GlpiUnavailable``, ``GlpiConfigError``, ``GlpiRejected``);
* ``paging``   — ``Content-Range`` of List and search answers;
* ``schema``   — the shapes of the GLPI answers that are read;
* ``fields``   — pure translations: scales, statuses, dates, the connector key marker;
* ``lookup``   — dropdown ids by name (categories, groups, users, request sources, locations);
* ``render``   — the HTML of content, follow-ups and solutions, escaping untrusted text;
* ``backend``  — ``GlpiBackend``, the ``Backend`` protocol;
* ``setup``    — ``setup glpi``: find (or create) categories, groups, request sources; print the map.
"""

from connector.integrations.glpi.backend import GlpiBackend
from connector.integrations.glpi.settings import GlpiSettings

__all__ = ["GlpiBackend", "GlpiSettings"]
