"""One package per outside system (Redmine, GLPI, Zabbix, IMAP mail, Alertmanager, any JSON
webhook, replay files): its settings, client, mapping and adapter. Integrations never import each
other; what the two pushed JSON sources share (the gated endpoint, its settings) is
`push_http.py`, directly under the package, which imports none of them."""
