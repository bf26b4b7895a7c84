"""The one log-follow loop: ``qlog -f`` and the TUI's log view both read a job's log with it.

It asks ``client.logs(ref, offset=...)`` again and again, from the offset the last chunk gave
back, until a chunk says the job had finished when it was read (that chunk holds its last
records). ``wait(seconds)`` sleeps between reads and returns False to stop early (the TUI
passes one that pauses while following is off and stops when the screen closes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from hyper_tui.core.jobs import LogChunk
from hyper_tui.hosts.contract import HostClient


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def follow(client: HostClient, ref: str, *, tail: int | None = None, poll_s: float = 0.5,
           wait: Callable[[float], bool] = _sleep, once: bool = False) -> Iterator[LogChunk]:
    """Chunks of ``ref``'s log: first the whole log (or its last ``tail`` records), then what
    was written since, until the job has finished (or ``once``: the first chunk only)."""
    chunk = client.logs(ref, tail=tail)
    yield chunk
    while not once and not chunk.final and wait(poll_s):
        chunk = client.logs(ref, offset=chunk.offset)
        yield chunk
