"""The running service: configuration, the composition root, the engine (ingest, decide, deliver),
the daemon and its jobs (sweep, sync-back), the intake writer thread, simulate."""
