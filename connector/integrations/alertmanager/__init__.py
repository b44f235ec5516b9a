"""Prometheus Alertmanager as a source of alerts: its webhook (payload version 4) pushed to the
daemon's shared HTTP server.

``settings`` is the config section, ``mapping`` the pure payload → Alerts translation,
``endpoint`` the source and the ``HttpEndpoint`` it mounts. ``connector.plugins.alertmanager``
plugs it into the host.
"""

from connector.integrations.alertmanager.endpoint import AlertmanagerEndpoint, AlertmanagerSource
from connector.integrations.alertmanager.mapping import Batch, PayloadError, map_payload
from connector.integrations.alertmanager.settings import AlertmanagerSettings

__all__ = [
    "AlertmanagerEndpoint",
    "AlertmanagerSettings",
    "AlertmanagerSource",
    "Batch",
    "PayloadError",
    "map_payload",
]
