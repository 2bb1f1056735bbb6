"""Path resolution inside the filesystem root: the one place that decides what a tool may touch.

Every tool argument naming a path goes through `Jail.resolve`, which refuses `..` escapes,
absolute paths outside the root, symbolic links (of the file or any parent) that lead out,
pseudo-filesystems such as /proc, and special files (pipes, sockets, devices). The resolved path
is then opened through `beneath.py` (a walk from the root's descriptor that never follows a
link), so a link swapped in after the check cannot lead out. Refusals are `FilesystemError`s,
whose messages reach the model as tool errors; they never show the root's absolute path.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mcp.server.mcpserver.exceptions import ToolError

from . import beneath

PSEUDO_FILESYSTEMS = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "debugfs",
        "tracefs",
        "securityfs",
        "configfs",
        "pstore",
        "bpf",
        "efivarfs",
        "fusectl",
        "binfmt_misc",
        "mqueue",
        "hugetlbfs",
        "rpc_pipefs",
        "nsfs",
    }
)
"""Kernel filesystems whose "files" lie about their size, block, or never end."""

_FALLBACK_PSEUDO_MOUNTS = {"/proc": "proc", "/sys": "sysfs", "/dev": "devtmpfs"}

DEFAULT_EXCLUDE = ("__pycache__", "node_modules", "venv", "*.egg-info")
"""Names never shared by default: caches and installed dependencies, never what a person means."""
HIDDEN_HINT = "set include_hidden = true in [plugins.filesystem] to share hidden files"


OUTSIDE = "is outside the allowed folder"
LEADS_OUT = "leads outside the allowed folder through a symbolic link"


class FilesystemError(ToolError):
    """A refused or failed file operation. MCPServer sends its message to the model as a tool error."""


class RootError(ValueError):
    """The configured root is unusable (missing, not a directory)."""


@functools.cache
def pseudo_mounts() -> dict[Path, str]:
    """Mount point -> filesystem type of every pseudo-filesystem on this machine (Linux)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return {Path(p): kind for p, kind in _FALLBACK_PSEUDO_MOUNTS.items() if os.path.isdir(p)}
    found: dict[Path, str] = {}
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[2] in PSEUDO_FILESYSTEMS:
            # /proc/self/mounts escapes spaces and friends as octal (\040).
            point = fields[1].encode().decode("unicode_escape")
            found[Path(point)] = fields[2]
    return found


def special_kind(mode: int) -> str | None:
    """What a special file is, in words, or None for files, directories and links."""
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return None


@contextmanager
def os_errors(action: str, shown: str) -> Iterator[None]:
    """Turn an OSError into a FilesystemError the model can read ("cannot read 'x': Permission denied")."""
    try:
        yield
    except FilesystemError:
        raise
    except beneath.PathChanged as exc:
        raise FilesystemError(f"'{shown}' {OUTSIDE}: a symbolic link appeared on the way") from exc
    except FileNotFoundError as exc:
        raise FilesystemError(f"'{shown}' does not exist") from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FilesystemError(f"cannot {action} '{shown}': {reason}") from exc


class Jail:
    """The root every path is resolved against, and the rules for leaving it (you can't)."""

    def __init__(
        self,
        root: str | Path,
        *,
        include_hidden: bool = False,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        refuse_hardlinks: bool = False,
    ) -> None:
        given = Path(root).expanduser()
        absolute = Path(os.path.abspath(given))
        if not absolute.exists():
            raise RootError(f"filesystem root {absolute} does not exist")
        if not absolute.is_dir():
            raise RootError(f"filesystem root {absolute} is not a directory")
        self.root = absolute.resolve()
        self._alias = absolute  # the root as configured, before its own symlinks were resolved
        self._pseudo = {p: kind for p, kind in pseudo_mounts().items() if p != self.root}
        self.include_hidden = include_hidden
        self.exclude = tuple(exclude)
        self.refuse_hardlinks = refuse_hardlinks

    def unshared_reason(self, name: str) -> str | None:
        """Why a file or directory called `name` is not shared ("hidden", "excluded"), or None.

        Dotfiles (.git, .env, .venv) often hold secrets or huge trees nobody means when speaking.
        """
        if not self.include_hidden and name.startswith(".") and name not in (".", ".."):
            return "hidden"
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude):
            return "excluded"
        return None

    def check_shared(self, path: Path, shown: str) -> None:
        """Refuse `path` (inside the root) if any part of it below the root is hidden or excluded."""
        if not self.contains(path):
            return
        for name in path.relative_to(self.root).parts:
            reason = self.unshared_reason(name)
            if reason == "hidden":
                raise FilesystemError(
                    f"'{shown}' is hidden ('{name}' starts with '.'), and hidden files are not shared; "
                    f"{HIDDEN_HINT}"
                )
            if reason == "excluded":
                pattern = next(p for p in self.exclude if fnmatch.fnmatchcase(name, p))
                raise FilesystemError(
                    f"'{shown}' is not shared: '{name}' matches '{pattern}' in the exclude setting "
                    "of [plugins.filesystem]"
                )

    def is_shared(self, path: Path) -> bool:
        """Whether `path` (inside the root) has no hidden or excluded part below the root."""
        if not self.contains(path):
            return False
        return all(self.unshared_reason(name) is None for name in path.relative_to(self.root).parts)

    def contains(self, path: Path) -> bool:
        return path == self.root or path.is_relative_to(self.root)

    def relative(self, path: Path) -> str:
        """A resolved path as the model should see it: relative to the root, "/"-separated."""
        rel = path.relative_to(self.root).as_posix()
        return rel or "."

    def pseudo_mount(self, path: Path) -> tuple[Path, str] | None:
        """The pseudo-filesystem `path` lies on, unless the root itself is there."""
        for mount, kind in self._pseudo.items():
            if (path == mount or path.is_relative_to(mount)) and not self.root.is_relative_to(mount):
                return mount, kind
        return None

    def is_pseudo_mount_point(self, path: Path) -> bool:
        return path in self._pseudo and not self.root.is_relative_to(path)

    def resolve(self, path: str, *, must_exist: bool = True, follow: bool = True) -> Path:
        """The real path `path` names inside the root, or a FilesystemError saying why not.

        `follow=False` keeps a final symbolic link itself (for `move`); parents are always resolved.
        Special files are refused whenever the path exists.
        """
        if "\x00" in path:
            raise FilesystemError(f"'{path}' is not a valid path")
        raw = path.strip() or "."
        candidate = Path(raw) if os.path.isabs(raw) else self.root / raw
        lexical = Path(os.path.normpath(candidate))
        if self._alias != self.root and lexical.is_relative_to(self._alias):
            lexical = self.root / lexical.relative_to(self._alias)
        if not self.contains(lexical):
            raise FilesystemError(f"'{path}' {OUTSIDE}")
        self.check_shared(lexical, path)
        with os_errors("resolve", path):
            if follow or lexical == self.root:
                real = Path(os.path.realpath(lexical))
            else:
                real = Path(os.path.realpath(lexical.parent)) / lexical.name
        if not self.contains(real):
            raise FilesystemError(f"'{path}' {LEADS_OUT}")
        self.check_shared(real, path)  # a link must not lead into .git either
        if not follow and real.is_symlink():
            # Moving a link is fine; a link that leads out is refused like any other.
            target = Path(os.path.realpath(real))
            if not self.contains(target):
                raise FilesystemError(f"'{path}' {LEADS_OUT}")
        pseudo = self.pseudo_mount(real)
        if pseudo is not None:
            mount, system = pseudo
            raise FilesystemError(f"'{path}' is a {system} system file under {mount}, not a regular file")
        try:
            st = os.stat(real) if follow else os.lstat(real)
        except FileNotFoundError:
            if must_exist:
                raise FilesystemError(f"'{path}' does not exist") from None
            return real
        except OSError as exc:
            raise FilesystemError(f"cannot access '{path}': {exc.strerror or exc}") from exc
        kind = special_kind(st.st_mode)
        if kind is not None:
            raise FilesystemError(f"'{path}' is {kind}, not a regular file")
        return real

    def resolve_file(self, path: str) -> Path:
        real = self.resolve(path)
        if real.is_dir():
            raise FilesystemError(f"'{path}' is a directory, not a file")
        return real

    def resolve_dir(self, path: str) -> Path:
        real = self.resolve(path)
        if not real.is_dir():
            raise FilesystemError(f"'{path}' is a file, not a directory")
        return real

    # -- opening what `resolve` returned, race-free ------------------------------------------------

    def open(self, real: Path, shown: str, flags: int, *, action: str = "read") -> int:
        """A descriptor of `real` (as `resolve` returned it) reached without following any link."""
        with os_errors(action, shown):
            return beneath.open_beneath(self.root, real, flags)

    def open_dir(self, real: Path, shown: str, *, action: str = "list") -> int:
        with os_errors(action, shown):
            return beneath.open_dir(self.root, real)

    def check_links(self, st: os.stat_result, shown: str) -> None:
        """Refuse a file with other hard links when `refuse_hardlinks` is set (they may be outside)."""
        if self.refuse_hardlinks and not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            raise FilesystemError(
                f"'{shown}' has {st.st_nlink} hard links, and files with more than one are not shared "
                "(refuse_hardlinks in [plugins.filesystem]): another link may be outside the allowed folder"
            )

    def link_target_inside(self, path: Path) -> Path | None:
        """Where a symbolic link met during a walk leads, or None when that is outside the root."""
        target = Path(os.path.realpath(path))
        if not self.contains(target) or self.pseudo_mount(target) is not None:
            return None
        return target

    def shared_link_target(self, path: Path) -> Path | None:
        """`link_target_inside`, and also None when the link leads to a hidden or excluded path."""
        target = self.link_target_inside(path)
        return target if target is not None and self.is_shared(target) else None
