"""The ``itsm-connector`` command line (``main``) and the embedded demo."""
