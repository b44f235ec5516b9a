"""The process over time: the rule pipeline, the ticket lifecycle (what people do), the sweep.
Pure functions over a ledger; the runtime records and delivers what they return."""
