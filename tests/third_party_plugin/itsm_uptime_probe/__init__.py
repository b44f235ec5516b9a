"""itsm-uptime-probe: an example itsm-connector plugin that a site could have written.

It reads the status file of an uptime checker (``source``) and keeps planned maintenance from
opening tickets (``plugin.rule_correlate``). It imports nothing from the connector but
``connector.api``, the stable surface, so it keeps working when the connector's insides move.
"""
