"""The contracts between the core and its plugins: adapter and notifier protocols, the pluggy hook
specifications and the plugin manager."""
