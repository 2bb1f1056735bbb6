"""The write operations (only offered when the root is writable). Each blocks; the server runs it in a thread.

Writes are atomic: a temporary file in the same directory is written, flushed to disk and then
linked (new file) or renamed (overwrite) into place, so a reader never sees half a file. Every
step works on the folder's descriptor (reached by `beneath.py` without following links), so a
folder swapped for a link after the path was checked cannot redirect a write or a move.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from . import beneath
from .content import human_size
from .jail import FilesystemError, Jail, os_errors


def _current_umask() -> int:
    """The umask, read without changing it where Linux allows (os.umask is process-wide)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


NEW_FILE_MODE = 0o666 & ~_current_umask()
"""New files get the process's usual permissions (mkstemp alone would make them 0600)."""


def _require_parent(jail: Jail, target: Path, shown: str) -> None:
    parent = target.parent
    if not parent.is_dir():
        rel = jail.relative(parent) if jail.contains(parent) else "?"
        raise FilesystemError(
            f"cannot write '{shown}': directory '{rel}' does not exist; create it with make_directory first"
        )


@contextlib.contextmanager
def _in_parent(jail: Jail, target: Path, shown: str, action: str) -> Iterator[tuple[int, str]]:
    """The target's folder as a descriptor (reached without following links) and its name there."""
    with os_errors(action, shown), beneath.parent_of(jail.root, target) as (dir_fd, name):
        yield dir_fd, name


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _temp_at(dir_fd: int, name: str, data: bytes, mode: int) -> Iterator[str]:
    """A flushed temporary file beside `name` in `dir_fd`, removed after unless renamed away."""
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | beneath.O_NOFOLLOW | beneath.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)


def write_file(jail: Jail, path: str, content: str, overwrite: bool) -> str:
    target = jail.resolve(path, must_exist=False)
    if target == jail.root or target.is_dir():
        raise FilesystemError(f"'{path}' is a directory, not a file")
    _require_parent(jail, target, path)
    data = content.encode("utf-8")
    with _in_parent(jail, target, path, "write") as (dir_fd, name):
        existing = _lstat_at(dir_fd, name)
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise FilesystemError(f"'{path}' is a directory, not a file")
        if existing is not None and not overwrite:
            raise FilesystemError(f"'{path}' already exists; pass overwrite=true to replace it")
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else NEW_FILE_MODE
        with _temp_at(dir_fd, name, data, mode) as tmp:
            if overwrite:
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            else:
                _link_exclusive(dir_fd, tmp, name, path)
    verb = "Replaced" if existing is not None else "Created"
    return f"{verb} '{jail.relative(target)}' ({human_size(len(data))})."


def _link_exclusive(dir_fd: int, tmp: str, name: str, shown: str) -> None:
    """Put `tmp` at `name` only if nothing is there, without a check-then-write race."""
    try:
        os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError as exc:
        raise FilesystemError(f"'{shown}' already exists; pass overwrite=true to replace it") from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        # No hard links on this filesystem: check, then rename (a tiny race, but still atomic).
        if _lstat_at(dir_fd, name) is not None:
            raise FilesystemError(f"'{shown}' already exists; pass overwrite=true to replace it") from exc
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def make_directory(jail: Jail, path: str) -> str:
    target = jail.resolve(path, must_exist=False)
    if target.is_dir():
        return f"Directory '{jail.relative(target)}' already exists."
    if target.exists():
        raise FilesystemError(f"'{path}' already exists and is a file, not a directory")
    with os_errors("create directory", path):
        beneath.make_dirs(jail.root, target)
    return f"Created directory '{jail.relative(target)}'."


def move(jail: Jail, source: str, destination: str) -> str:
    src = jail.resolve(source, follow=False)
    if src == jail.root:
        raise FilesystemError("cannot move the filesystem root itself")
    dst = jail.resolve(destination, must_exist=False)
    if dst.is_dir():
        dst = dst / src.name  # like `mv a dir/`: into the directory
    if os.path.lexists(dst):
        raise FilesystemError(f"'{jail.relative(dst)}' already exists; move or rename it first")
    if src.is_dir() and not src.is_symlink() and dst.is_relative_to(src):
        raise FilesystemError(f"cannot move directory '{source}' into itself")
    _require_parent(jail, dst, destination)
    with _in_parent(jail, src, source, "move") as (src_fd, src_name):
        with _in_parent(jail, dst, destination, "move") as (dst_fd, dst_name):
            if _lstat_at(dst_fd, dst_name) is not None:
                raise FilesystemError(f"'{jail.relative(dst)}' already exists; move or rename it first")
            with os_errors("move", source):
                try:
                    os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    shutil.move(src, dst)  # the root spans filesystems: copy, then delete
    return f"Moved '{jail.relative(src)}' to '{jail.relative(dst)}'."
