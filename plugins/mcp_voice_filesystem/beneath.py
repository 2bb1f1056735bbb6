"""Opening paths below the root without a check-then-use race.

`Jail.resolve` decides, by name, whether a path stays inside the root. Between that check and
the open, another process could swap a folder on the way for a symbolic link leading out. So
every open walks from a descriptor of the root, one component at a time, each opened relative to
its parent's descriptor with `O_NOFOLLOW`: a link met on the way is never followed, whatever was
there when the name was checked. (`openat2(RESOLVE_BENEATH)` would do the walk in the kernel; the
standard library has no binding for it, and this walk needs none.) The resolved path handed in
is link-free, so meeting a link means the tree changed after the check: the open is refused.

The jail cannot tell hard links apart: a hard link inside the root to a file outside it is the
same file. See `refuse_hardlinks`.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
DIR_FLAGS = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC

CHANGED_ERRNOS = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EMLINK})
"""What an `O_NOFOLLOW` open answers when it meets a symbolic link (EMLINK on FreeBSD)."""


class PathChanged(OSError):
    """A symbolic link appeared where the resolved path had a folder: the tree changed under us."""


def _parts(root: Path, real: Path) -> tuple[str, ...]:
    if real != root and not real.is_relative_to(root):
        raise PathChanged(errno.EXDEV, "not below the root")
    return real.relative_to(root).parts


def _open_at(name: str, flags: int, mode: int, dir_fd: int) -> int:
    try:
        return os.open(name, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in CHANGED_ERRNOS:
            raise PathChanged(exc.errno, "a symbolic link is in the way") from exc
        raise


def open_dir(root: Path, real: Path) -> int:
    """A descriptor of the directory `real` (inside `root`), reached without following links."""
    fd = os.open(root, os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try:
        for name in _parts(root, real):
            next_fd = _open_at(name, DIR_FLAGS, 0, fd)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def parent_of(root: Path, real: Path) -> Iterator[tuple[int, str]]:
    """`(descriptor of real's folder, real's name)` for the `*at` calls (rename, link, mkdir)."""
    if real == root:
        raise PathChanged(errno.EINVAL, "the root has no parent inside the root")
    fd = open_dir(root, real.parent)
    try:
        yield fd, real.name
    finally:
        os.close(fd)


def open_beneath(root: Path, real: Path, flags: int, mode: int = 0o666) -> int:
    """Open `real` (inside `root`) with `flags`; no component, the last included, may be a link."""
    if real == root:
        return os.open(root, flags | O_CLOEXEC, mode)
    with parent_of(root, real) as (fd, name):
        return _open_at(name, flags | O_NOFOLLOW | O_CLOEXEC, mode, fd)


def make_dirs(root: Path, real: Path) -> None:
    """`os.makedirs(real)`, one component at a time below `root`, never through a link."""
    fd = os.open(root, os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try:
        for name in _parts(root, real):
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=fd)
            next_fd = _open_at(name, DIR_FLAGS, 0, fd)
            os.close(fd)
            fd = next_fd
    finally:
        os.close(fd)
