"""What the connector keeps so that nothing accepted is lost: the state store (journal, outbox,
ticket map, dead letters, cursors) and the attachment spool."""
