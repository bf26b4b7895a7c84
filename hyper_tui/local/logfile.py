"""Reading a local job's log file: ``TIMESTAMP\\tTYPE\\tDATA`` lines, read on from a byte
offset, or only the last N records without reading a huge file whole."""

from __future__ import annotations

from pathlib import Path

from hyper_tui.core.jobs import LogRecord


def read_log_file(path: Path, offset: int = 0) -> tuple[list[LogRecord], int]:
    """Records of a job's log file from byte ``offset``; returns (records, new offset)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    out = []
    for line in data[:end].split(b"\n"):
        parts = line.split(b"\t", 2)
        if len(parts) == 3:
            try:
                out.append(LogRecord(float(parts[0]), parts[1].decode(),
                                     parts[2].decode(errors="replace")))
            except ValueError:
                continue
    return out, offset + end + 1


def tail_log_file(path: Path, n: int) -> tuple[list[LogRecord], int]:
    """The last ``n`` records, and the offset after them."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [], 0
    block = 65536
    start = size
    with open(path, "rb") as fh:
        while start > 0:
            start = max(0, start - block)
            fh.seek(start)
            if fh.read(size - start).count(b"\n") > n + 1:
                break
            block *= 2
    if start > 0:
        with open(path, "rb") as fh:
            fh.seek(start)
            fh.readline()
            start = fh.tell()
    records, offset = read_log_file(path, start)
    return records[-n:], offset
