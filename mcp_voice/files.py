"""Atomic file writes, shared by the first-party plugins that save files (filesystem, calendar)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def temp_beside(target: Path, data: bytes, mode: int) -> Iterator[Path]:
    """A temporary file in `target`'s folder holding `data`, flushed to disk, with `mode`.

    The caller renames or links it into place inside the block; whatever is left is removed after,
    so a reader of `target` never sees half a file and a failed write leaves no litter.
    """
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
