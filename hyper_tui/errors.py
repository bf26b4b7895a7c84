"""Errors for people: one line that names what is wrong and how to fix it, and an exit code.

Exit codes (documented in the README and relied on by scripts):

====  =====================================================================
0     ok
1     the command ran but something failed (a job failed, a deploy failed)
2     usage error: unknown command or option, missing value
3     validation error: a value or a config file is wrong
4     not found: no such host, resource or job
5     conflict: the name exists already, or something still refers to it
6     unavailable: the store, the daemon or AWS could not be reached or written
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_VALIDATION = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130


_ESCAPE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


class HyperError(Exception):
    """Base of every error shown to a user: ``str(err)`` is the one line to print."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.message}; {self.fix}" if self.fix else self.message
        # One line even when it quotes what the user typed: line breaks are shown escaped.
        return text.translate(_ESCAPE_BREAKS)


class UsageError(HyperError):
    exit_code = EXIT_USAGE


class ValidationError(HyperError):
    exit_code = EXIT_VALIDATION


class NotFoundError(HyperError):
    exit_code = EXIT_NOT_FOUND


class ConflictError(HyperError):
    exit_code = EXIT_CONFLICT


class UnavailableError(HyperError):
    exit_code = EXIT_UNAVAILABLE


class FailedError(HyperError):
    exit_code = EXIT_FAILED


class UnsafeStateError(UnavailableError):
    """A config or data folder, or a store, that another user owns or can write: using it would
    run their commands as you. Exit code 6 (unavailable), like any state that cannot be used."""


class DamagedStoreError(UnavailableError):
    """The store failed its integrity check or lost its WAL: nothing is accepted until it is
    repaired (exit code 6)."""
