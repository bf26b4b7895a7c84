"""The old home of ``hyper_tui.local.apply`` (resource states in this machine's store), kept for
the modules that still import it from here (``aws.synth``, ``aws.deploy``, tests); new code
imports ``hyper_tui.local.apply``."""

from hyper_tui.local.apply import apply_config, open_store

__all__ = ["apply_config", "open_store"]
