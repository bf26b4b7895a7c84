"""The embedded local host: SQLite store, scheduler daemon, local workers."""
