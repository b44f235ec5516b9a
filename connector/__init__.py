"""itsm-connector: an ITIL incident process beside GLPI or Redmine, fed by Zabbix and e-mail.

Plugins import ``hookimpl`` from here and mark every hook implementation with it.
"""

from connector.contracts.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
__version__ = "0.1.0"
