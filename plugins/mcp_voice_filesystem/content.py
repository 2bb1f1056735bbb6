"""What is inside a file: text or binary, what kind of binary, and bounded reads of text.

All functions here block; the server runs them in a worker thread. Reads never take more
than a cap's worth of bytes into memory, even from files that lie about their size.
"""

from __future__ import annotations

import codecs
import mimetypes
import os
import stat
from pathlib import Path
from typing import BinaryIO

from .jail import FilesystemError, Jail, special_kind

SNIFF_BYTES = 8192
"""How much of a file decides text versus binary."""
LINE_COUNT_LIMIT = 64 * 1024 * 1024
"""Files larger than this are not read to the end just to count their lines."""

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG image"),
    (b"\xff\xd8\xff", 0, "JPEG image"),
    (b"GIF87a", 0, "GIF image"),
    (b"GIF89a", 0, "GIF image"),
    (b"%PDF-", 0, "PDF document"),
    (b"PK\x03\x04", 0, "ZIP archive"),
    (b"\x1f\x8b", 0, "gzip archive"),
    (b"BZh", 0, "bzip2 archive"),
    (b"\xfd7zXZ\x00", 0, "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7-Zip archive"),
    (b"\x7fELF", 0, "ELF executable"),
    (b"MZ", 0, "Windows executable"),
    (b"SQLite format 3\x00", 0, "SQLite database"),
    (b"\x00asm", 0, "WebAssembly module"),
    (b"OggS", 0, "Ogg audio"),
    (b"fLaC", 0, "FLAC audio"),
    (b"ID3", 0, "MP3 audio"),
    (b"ftyp", 4, "MP4 video"),
    (b"WEBP", 8, "WebP image"),
    (b"WAVE", 8, "WAV audio"),
    (b"ustar", 257, "tar archive"),
)


def human_size(n: int) -> str:
    """Sizes the way a person says them: "512 bytes", "1.5 KB", "3.2 MB"."""
    if n < 1024:
        return "1 byte" if n == 1 else f"{n} bytes"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


def looks_like_text(sample: bytes) -> bool:
    """UTF-8 (or nearly: a few stray bytes) without NULs is text; anything else is binary."""
    if not sample:
        return True
    if b"\x00" in sample:
        return False
    try:
        # final=False: a multi-byte character cut at the end of the sample is fine.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return True
    except UnicodeDecodeError:
        pass
    controls = sum(1 for b in sample if b < 32 and b not in b"\t\n\r\f\b\x1b")
    return controls / len(sample) < 0.05 and _mostly_decodable(sample)


def _mostly_decodable(sample: bytes) -> bool:
    text = sample.decode("utf-8", errors="replace")
    return text.count("\ufffd") / max(len(text), 1) < 0.05


def binary_kind(name: str, sample: bytes) -> str:
    """A guess at what a binary file is, from its first bytes, else its name."""
    for magic, offset, kind in _MAGIC:
        if sample[offset : offset + len(magic)] == magic:
            return kind
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "unknown binary data"


def open_regular(path: Path, shown: str, jail: Jail | None = None) -> BinaryIO:
    """Open for reading without following a symlink or blocking on a pipe, checking it is a file.

    The jail already resolved `path`; with `jail`, the open walks from the root's descriptor so no
    link swapped in since (of the file or a folder on the way) is followed, and the fstat checks
    what was opened. Without it only a final link is refused (for paths that are not the model's).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if jail is not None:
        fd = jail.open(path, shown, flags)
        return _checked(fd, shown, jail)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise FilesystemError(f"'{shown}' does not exist") from exc
    except OSError as exc:
        raise FilesystemError(f"cannot read '{shown}': {exc.strerror or exc}") from exc
    return _checked(fd, shown, None)


def _checked(fd: int, shown: str, jail: Jail | None) -> BinaryIO:
    st = os.fstat(fd)
    try:
        if not stat.S_ISREG(st.st_mode):
            mode = st.st_mode
            kind = special_kind(mode) or ("a directory" if stat.S_ISDIR(mode) else "not a regular file")
            raise FilesystemError(f"'{shown}' is {kind}, not a regular file")
        if jail is not None:
            jail.check_links(st, shown)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def count_lines(f: BinaryIO, *, last_byte: bytes = b"") -> int:
    """Lines from the current position to the end; a last line without a newline counts."""
    lines = 0
    last = last_byte
    while chunk := f.read(1 << 20):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    return lines + (1 if last and last != b"\n" else 0)


def _iter_lines(f: BinaryIO, limit: int):  # -> Iterator[tuple[bytes, bool]]
    """Lines as bytes, each at most `limit` long; the flag says a longer line was cut."""
    while line := f.readline(limit):
        if line.endswith(b"\n") or len(line) < limit:
            yield line, False
            continue
        while rest := f.readline(limit):  # skip the remainder of an overlong line
            if rest.endswith(b"\n"):
                break
        yield line, True


def _decode(data: bytes) -> str:
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False)


def read_text(
    path: Path, shown: str, start: int | None, end: int | None, cap: int, jail: Jail | None = None
) -> str:
    """A text file's contents (or lines `start`..`end`, 1-based inclusive), at most `cap` bytes.

    Binary files are described instead of dumped. Notes in [brackets] say what was left out.
    """
    if start is not None and start < 1:
        raise FilesystemError(f"start_line must be 1 or more, not {start}")
    if end is not None and end < 1:
        raise FilesystemError(f"end_line must be 1 or more, not {end}")
    if start is not None and end is not None and end < start:
        raise FilesystemError(f"end_line {end} is before start_line {start}")
    with open_regular(path, shown, jail) as f:
        size = os.fstat(f.fileno()).st_size
        sample = f.read(SNIFF_BYTES)
        if not looks_like_text(sample):
            kind = binary_kind(path.name, sample)
            return f"'{shown}' is a binary file ({kind}, {human_size(size)}); its contents are not shown."
        f.seek(0)
        if start is None and end is None:
            return _read_whole(f, size, cap)
        return _read_range(f, size, start or 1, end, cap)


def _read_whole(f: BinaryIO, size: int, cap: int) -> str:
    data = f.read(cap + 1)
    if len(data) <= cap:
        return _decode(data) if data else "(empty file)"
    cut = data.rfind(b"\n", 0, cap)
    cut = cap if cut < 0 else cut + 1
    text = _decode(data[:cut])
    total = human_size(max(size, len(data)))
    shown_lines = text.count("\n")
    if shown_lines == 0:
        note = f"[Truncated: showing the first {human_size(cut)} of {total}; the first line is longer.]"
    else:
        note = (
            f"[Truncated: showing lines 1-{shown_lines}, the first {human_size(cut)} of {total}. "
            f"Read on with start_line={shown_lines + 1}.]"
        )
    return f"{text}\n{note}" if text.endswith("\n") else f"{text}\n\n{note}"


def _read_range(f: BinaryIO, size: int, start: int, end: int | None, cap: int) -> str:
    out: list[bytes] = []
    used = 0
    last = 0  # the last line shown
    seen = 0  # lines read so far
    clipped: int | None = None
    stopped_by_cap = False
    reached_eof = True
    for number, (line, cut) in enumerate(_iter_lines(f, cap), 1):
        seen = number
        if number < start:
            continue
        if end is not None and number > end:
            reached_eof = False
            break
        if used + len(line) > cap:
            stopped_by_cap = True
            reached_eof = False
            break
        out.append(line)
        used += len(line)
        last = number
        if cut:
            clipped = number
    if seen < start:
        lines = "no lines" if seen == 0 else "1 line" if seen == 1 else f"{seen} lines"
        raise FilesystemError(f"start_line {start} is past the end of the file, which has {lines}")
    total: int | None = seen if reached_eof else None
    if total is None and not stopped_by_cap and size <= LINE_COUNT_LIMIT:
        # `seen` counts the line after `end` we already read; it ended with a newline or the file.
        f.seek(0)
        total = count_lines(f)
    text = _decode(b"".join(out))
    if stopped_by_cap:
        note = (
            f"[Truncated at {human_size(cap)}: showing lines {start}-{last}. "
            f"Read on with start_line={last + 1}.]"
        )
    else:
        span = f"Line {last}" if last == start else f"Lines {start}-{last}"
        note = f"[{span} of {total}.]" if total is not None else f"[{span}.]"
    if clipped is not None:
        note += f" [Line {clipped} is longer than {human_size(cap)} and was cut.]"
    if not out:
        return note
    return f"{text}\n{note}" if text.endswith("\n") else f"{text}\n\n{note}"
