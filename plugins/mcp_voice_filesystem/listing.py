"""Describing what is there: directory listings and single-file facts. Blocking; run in a thread."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

from .content import LINE_COUNT_LIMIT, SNIFF_BYTES, binary_kind, count_lines, human_size, looks_like_text
from .content import open_regular as _open_regular
from .jail import HIDDEN_HINT, Jail, os_errors, special_kind

LIST_LIMIT = 500
"""A listing shows at most this many entries (directories first), then says how many it left out."""


def list_directory(jail: Jail, path: str) -> str:
    real = jail.resolve_dir(path)
    fd = jail.open_dir(real, path)
    try:
        with os_errors("list", path), os.scandir(fd) as it:  # by descriptor: no link swapped in is followed
            everything = list(it)
        entries = [e for e in everything if jail.unshared_reason(e.name) is None]
        note = unshared_note(jail, [e.name for e in everything if jail.unshared_reason(e.name) is not None])
        # Sort on d_type (no stat): a huge directory costs one scandir, and stats only what is shown.
        entries.sort(key=lambda e: (not _is_dir_inside(jail, real, e), e.name.casefold()))
        return _listing(jail, real, entries, note)
    finally:
        os.close(fd)


def _listing(jail: Jail, real: Path, entries: list[os.DirEntry[str]], note: str) -> str:
    shown = jail.relative(real)
    if not entries:
        empty = f"Directory '{shown}' has no shared entries." if note else f"Directory '{shown}' is empty."
        return f"{empty}\n{note}" if note else empty
    lines = [f"Directory '{shown}' has {_plural(len(entries), 'entry', 'entries')}:"]
    lines.extend(_describe_entry(jail, real, e) for e in entries[:LIST_LIMIT])
    if len(entries) > LIST_LIMIT:
        lines.append(
            f"[Showing the first {LIST_LIMIT} of {len(entries)} entries; "
            "use search_files to find specific ones.]"
        )
    if note:
        lines.append(note)
    return "\n".join(lines)


def unshared_note(jail: Jail, names: list[str]) -> str:
    """ "[Not shown: 3 hidden entries (...); 1 excluded entry (...).]", or "" when none were left out."""
    hidden = sum(1 for name in names if jail.unshared_reason(name) == "hidden")
    excluded = len(names) - hidden
    parts = []
    if hidden:
        parts.append(f"{_plural(hidden, 'hidden entry', 'hidden entries')} ({HIDDEN_HINT})")
    if excluded:
        parts.append(f"{_plural(excluded, 'excluded entry', 'excluded entries')} (the exclude setting)")
    return f"[Not shown: {'; '.join(parts)}.]" if parts else ""


def _plural(n: int, one: str, many: str) -> str:
    return f"1 {one}" if n == 1 else f"{n} {many}"


def _is_dir_inside(jail: Jail, folder: Path, entry: os.DirEntry[str]) -> bool:
    try:
        if entry.is_symlink():
            target = jail.shared_link_target(folder / entry.name)
            return target is not None and target.is_dir()
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _describe_entry(jail: Jail, folder: Path, entry: os.DirEntry[str]) -> str:
    try:
        if entry.is_symlink():
            target = jail.link_target_inside(folder / entry.name)
            if target is None:
                return f"{entry.name} (link leading outside the root; not accessible)"
            if not jail.is_shared(target):
                return f"{entry.name} (link to a hidden or excluded path; not accessible)"
            if not target.exists():
                return f"{entry.name} (broken link)"
            if target.is_dir():
                return f"{entry.name}/ (link to directory '{jail.relative(target)}')"
            return f"{entry.name} (link to '{jail.relative(target)}', {human_size(target.stat().st_size)})"
        st = entry.stat(follow_symlinks=False)
    except OSError as exc:
        return f"{entry.name} (unreadable: {exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return f"{entry.name}/"
    kind = special_kind(st.st_mode)
    if kind is not None:
        return f"{entry.name} ({kind.removeprefix('a ')}; not readable)"
    return f"{entry.name} ({human_size(st.st_size)})"


def file_info(jail: Jail, path: str) -> str:
    real = jail.resolve(path)
    lines = [f"path: {jail.relative(real)}"]
    lexical = jail.root / path if not os.path.isabs(path) else Path(path)
    if os.path.islink(lexical):
        lines.append(f"link: symbolic link to '{jail.relative(real)}'")
    with os_errors("read", path):
        fd = jail.open(real, path, getattr(os, "O_PATH", os.O_RDONLY | os.O_NONBLOCK))
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        modified = datetime.fromtimestamp(st.st_mtime).astimezone().isoformat(timespec="seconds")
        permissions = f"{stat.filemode(st.st_mode)[1:]} ({stat.S_IMODE(st.st_mode):04o})"
        if stat.S_ISDIR(st.st_mode):
            dir_fd = jail.open_dir(real, path)
            try:
                count = sum(1 for name in os.listdir(dir_fd) if jail.unshared_reason(name) is None)
            finally:
                os.close(dir_fd)
            lines += ["type: directory", f"entries: {count}"]
        else:
            exact = f" ({st.st_size} bytes)" if st.st_size >= 1024 else ""
            lines += ["type: file", f"size: {human_size(st.st_size)}{exact}"]
            lines.append(f"content: {_content_summary(jail, real, path, st.st_size)}")
        lines += [f"modified: {modified}", f"permissions: {permissions}"]
    return "\n".join(lines)


def _content_summary(jail: Jail, real: Path, shown: str, size: int) -> str:
    with _open_regular(real, shown, jail) as f:
        sample = f.read(SNIFF_BYTES)
        if not looks_like_text(sample):
            return f"binary ({binary_kind(real.name, sample)})"
        if size > LINE_COUNT_LIMIT:
            return f"text (too large to count lines: over {human_size(LINE_COUNT_LIMIT)})"
        f.seek(0)
        n = count_lines(f)
        return f"text, {_plural(n, 'line', 'lines')}"
