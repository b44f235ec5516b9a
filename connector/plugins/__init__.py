"""The built-in plugins, one module per entry point (``itsm_connector`` group in pyproject.toml):
each registers a source, backend, notifier or rule stage exactly as a third-party package would."""
