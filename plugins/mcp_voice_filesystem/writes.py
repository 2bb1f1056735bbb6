"""The write operations (only offered when the root is writable). Each blocks; the server runs it in a thread.

Writes are atomic: a temporary file in the same directory is written, flushed to disk and then
linked (new file) or renamed (overwrite) into place, so a reader never sees half a file.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from mcp_voice.files import temp_beside

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
        rel = jail.relative(parent) if jail.contains(parent) else str(parent)
        raise FilesystemError(
            f"cannot write '{shown}': directory '{rel}' does not exist; create it with make_directory first"
        )


def write_file(jail: Jail, path: str, content: str, overwrite: bool) -> str:
    target = jail.resolve(path, must_exist=False)
    if target == jail.root or target.is_dir():
        raise FilesystemError(f"'{path}' is a directory, not a file")
    exists = target.exists()
    if exists and not overwrite:
        raise FilesystemError(f"'{path}' already exists; pass overwrite=true to replace it")
    _require_parent(jail, target, path)
    data = content.encode("utf-8")
    with os_errors("write", path):
        mode = stat.S_IMODE(target.stat().st_mode) if exists else NEW_FILE_MODE
        with temp_beside(target, data, mode) as tmp:
            if overwrite:
                os.replace(tmp, target)
            else:
                _link_exclusive(tmp, target, path)
    verb = "Replaced" if exists else "Created"
    return f"{verb} '{jail.relative(target)}' ({human_size(len(data))})."


def _link_exclusive(tmp: Path, target: Path, shown: str) -> None:
    """Put `tmp` at `target` only if nothing is there, without a check-then-write race."""
    try:
        os.link(tmp, target)
    except FileExistsError as exc:
        raise FilesystemError(f"'{shown}' already exists; pass overwrite=true to replace it") from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        # No hard links on this filesystem: check, then rename (a tiny race, but still atomic).
        if target.exists():
            raise FilesystemError(f"'{shown}' already exists; pass overwrite=true to replace it") from exc
        os.replace(tmp, target)


def make_directory(jail: Jail, path: str) -> str:
    target = jail.resolve(path, must_exist=False)
    if target.is_dir():
        return f"Directory '{jail.relative(target)}' already exists."
    if target.exists():
        raise FilesystemError(f"'{path}' already exists and is a file, not a directory")
    with os_errors("create directory", path):
        os.makedirs(target)
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
    with os_errors("move", source):
        try:
            os.rename(src, dst)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.move(src, dst)  # the root spans filesystems: copy, then delete
    return f"Moved '{jail.relative(src)}' to '{jail.relative(dst)}'."
