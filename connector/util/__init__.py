"""Small helpers every layer may use: YAML with line numbers, secrets, text mending, HTTP failure
wording, setup reports, synthetic streams, failpoints."""
