"""Pure types of the process: alerts, tickets, decisions, notices, ticket state, errors, the clock.

Nothing here does I/O or knows a helpdesk, a source or a rule file (an import-linter contract holds it)."""
