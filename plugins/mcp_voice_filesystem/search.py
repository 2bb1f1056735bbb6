"""A file search that runs in small steps, so the tool can report progress and be cancelled between them.

`Search.step()` blocks (it runs in a worker thread) for at most a time budget or a batch of
files. The walk never follows directory links, only follows file links that stay inside the
root, never opens special files, and skips VCS internals and pseudo-filesystems.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re2

from .content import SNIFF_BYTES, looks_like_text, open_regular
from .jail import HIDDEN_HINT, FilesystemError, Jail

SKIPPED_DIRECTORIES = frozenset({".git", ".hg", ".svn"})
"""Version-control internals: never what a spoken search means."""
MAX_SEARCHED_FILE_BYTES = 16 * 1024 * 1024
"""Content search skips files larger than this (and says how many it skipped)."""
MAX_LINE_CHARS = 200
"""A matching line longer than this is shortened around the match."""


@dataclass(frozen=True)
class Match:
    path: str
    """Relative to the root, "/"-separated; directories end with "/"."""
    line: int | None = None
    text: str | None = None


@dataclass
class _Pending:
    path: Path
    rel: str


def compile_regex(pattern: str) -> Any:
    """A case-insensitive RE2 pattern: linear time in the text, so no pattern can stall the process.

    Python's `re` backtracks: `(a+)+$` against a line of 27 `a` and a `!` takes seconds, holding
    the GIL (a thread cannot be stopped) and so every session. RE2 has no backreferences or
    lookaround; such a pattern gets an error saying so.
    """
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error is returned to the caller, not printed to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise FilesystemError(
            f"'{pattern}' is not a valid regular expression: {reason} (RE2 syntax: no backreferences "
            "or lookaround)"
        ) from None


@dataclass
class Search:
    """One search's state; `step()` advances it, `cancelled` stops an abandoned worker thread."""

    jail: Jail
    start: Path
    pattern: str = "*"
    content: str | None = None
    regex: bool = False
    max_results: int = 50
    matches: list[Match] = field(default_factory=list)
    files_scanned: int = 0
    dirs_scanned: int = 0
    skipped_large: int = 0
    unreadable: int = 0
    skipped_hidden: int = 0
    skipped_excluded: int = 0
    cancelled: bool = False
    _dirs: deque[_Pending] = field(default_factory=deque)
    _files: deque[_Pending] = field(default_factory=deque)
    _matcher: Any = None
    """A compiled pattern with `search(line)`: `re` for a plain substring, RE2 for a regex."""

    def __post_init__(self) -> None:
        self.pattern = self.pattern.strip() or "*"
        if self.content is not None:
            if self.regex:
                self._matcher = compile_regex(self.content)
            else:
                self._matcher = re.compile(re.escape(self.content), re.IGNORECASE)
        rel = self.jail.relative(self.start)
        self._dirs.append(_Pending(self.start, "" if rel == "." else rel + "/"))

    @property
    def done(self) -> bool:
        return self.full or (not self._dirs and not self._files)

    @property
    def full(self) -> bool:
        return len(self.matches) >= self.max_results

    def step(self, budget_s: float = 0.1, batch: int = 1000) -> None:
        """Search on for about `budget_s` seconds or `batch` files, whichever comes first."""
        deadline = time.monotonic() + budget_s
        scanned_before = self.files_scanned
        while not self.cancelled and not self.done:
            if time.monotonic() > deadline or self.files_scanned - scanned_before >= batch:
                return
            if self._files:
                pending = self._files.popleft()
                self.files_scanned += 1
                self._check_file(pending)
            else:
                self._scan_dir(self._dirs.popleft())

    def _scan_dir(self, pending: _Pending) -> None:
        try:
            fd = self.jail.open_dir(pending.path, pending.rel or ".")
        except (OSError, FilesystemError):
            self.unreadable += 1
            return
        try:  # by descriptor: a folder swapped for a link is not listed (entries stat through it)
            self._scan_entries(pending, fd)
        finally:
            os.close(fd)

    def _scan_entries(self, pending: _Pending, fd: int) -> None:
        try:
            with os.scandir(fd) as it:
                entries = sorted(it, key=lambda e: e.name.casefold())
        except OSError:
            self.unreadable += 1
            return
        self.dirs_scanned += 1
        subdirs: list[_Pending] = []
        for entry in entries:
            reason = self.jail.unshared_reason(entry.name)
            if reason is not None:  # not descended into, so counting stays cheap
                if reason == "hidden":
                    self.skipped_hidden += 1
                else:
                    self.skipped_excluded += 1
                continue
            rel = pending.rel + entry.name
            path = pending.path / entry.name
            try:
                if entry.is_symlink():
                    target = self.jail.shared_link_target(path)
                    # Directory links are not followed (no loops, no second copies); file links must stay in.
                    if target is not None and target.is_file():
                        self._files.append(_Pending(target, rel))
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name in SKIPPED_DIRECTORIES or self.jail.is_pseudo_mount_point(path):
                        continue
                    if self.content is None and self._name_matches(entry.name, rel):
                        self.matches.append(Match(rel + "/"))
                    subdirs.append(_Pending(path, rel + "/"))
                elif stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                    self._files.append(_Pending(path, rel))
            except OSError:
                self.unreadable += 1
        # A directory's own files first (they are queued), then its subdirectories, depth-first.
        self._dirs.extendleft(reversed(subdirs))

    def _name_matches(self, name: str, rel: str) -> bool:
        subject = rel if "/" in self.pattern else name
        return fnmatch.fnmatchcase(subject.casefold(), self.pattern.casefold())

    def _check_file(self, pending: _Pending) -> None:
        name = pending.rel.rsplit("/", 1)[-1]
        if not self._name_matches(name, pending.rel):
            return
        if self._matcher is None:
            self.matches.append(Match(pending.rel))
            return
        try:
            with open_regular(pending.path, pending.rel, self.jail) as f:
                if os.fstat(f.fileno()).st_size > MAX_SEARCHED_FILE_BYTES:
                    self.skipped_large += 1
                    return
                if not looks_like_text(f.read(SNIFF_BYTES)):
                    return
                f.seek(0)
                for number, raw in enumerate(f, 1):
                    line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    found = self._matcher.search(line)
                    if found is None:
                        continue
                    self.matches.append(Match(pending.rel, number, _excerpt(line, found.start())))
                    if self.full or self.cancelled:
                        return
        except (OSError, FilesystemError):
            self.unreadable += 1

    def progress_message(self) -> str:
        return (
            f"Searched {self.files_scanned} files in {self.dirs_scanned} directories, "
            f"{len(self.matches)} matches so far"
        )


def _excerpt(line: str, at: int) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line.strip()
    begin = max(0, at - MAX_LINE_CHARS // 4)
    return ("…" if begin else "") + line[begin : begin + MAX_LINE_CHARS].strip() + "…"


def format_results(search: Search, shown_path: str) -> str:
    """The tool's answer: a summary line, one line per match, and notes on what was left out."""
    what = f"files named '{search.pattern}'" if search.pattern != "*" else "files"
    if search.content is not None:
        what += f" containing '{search.content}'"
    where = f"under '{shown_path}'"
    scanned = "searched 1 file" if search.files_scanned == 1 else f"searched {search.files_scanned} files"
    if not search.matches:
        lines = [f"No {what} {where} ({scanned})."]
    else:
        count = len(search.matches)
        lines = [f"{count} match{'es' if count != 1 else ''} for {what} {where} ({scanned}):"]
        for m in search.matches:
            lines.append(m.path if m.line is None else f"{m.path}:{m.line}: {m.text}")
    if search.full:
        lines.append(f"[Stopped at {search.max_results} results; narrow the search to see more.]")
    if search.skipped_large:
        lines.append(
            f"[Skipped {search.skipped_large} files larger than "
            f"{MAX_SEARCHED_FILE_BYTES // (1024 * 1024)} MB when searching contents.]"
        )
    if search.unreadable:
        lines.append(f"[{search.unreadable} files or directories could not be read.]")
    if search.skipped_hidden:
        lines.append(f"[Skipped {_entries(search.skipped_hidden)} that are hidden; {HIDDEN_HINT}.]")
    if search.skipped_excluded:
        lines.append(f"[Skipped {_entries(search.skipped_excluded)} matching the exclude setting.]")
    return "\n".join(lines)


def _entries(n: int) -> str:
    return "1 file or directory" if n == 1 else f"{n} files or directories"
