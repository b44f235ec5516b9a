"""One package per outside system (Redmine, GLPI, Zabbix, IMAP mail, replay files): its settings,
client, mapping and adapter. Integrations never import each other."""
