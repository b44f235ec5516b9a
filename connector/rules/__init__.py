"""The rule book: the YAML files under ``defaults/`` (or a site's overlay), their loader and schema,
and the pure functions that apply them (classify, prioritize, correlate, SLA, escalation ladder).
No I/O beyond reading the rule files; time comes in as an argument."""
