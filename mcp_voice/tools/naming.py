"""Exposed tool names: `<server>__<tool>` made safe for the Realtime API.

Realtime function names must match `^[a-zA-Z0-9_-]{1,64}$`. MCP tool names are freer (dots,
slashes, long names), and two servers' tools may sanitise to the same string, so names that had
to change get a short hash of the original pair: stable across runs, distinct in practice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

MAX_NAME_LENGTH = 64
SEPARATOR = "__"
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def is_valid_name(name: str) -> bool:
    """Whether the Realtime API accepts `name` as a function name."""
    return bool(_VALID.match(name))


def _digest(server: str, tool: str, length: int) -> str:
    # NUL cannot occur in either part, so ("a_", "b") and ("a", "_b") hash differently.
    return hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:length]


def plain_name(server: str, tool: str) -> str:
    """`<server>__<tool>` with disallowed characters replaced by `_` (may be too long)."""
    return _BAD_CHARS.sub("_", f"{server}{SEPARATOR}{tool}")


MIN_SERVER_CHARS = 12
"""A shortened server prefix keeps at least this much, so the model can still tell servers apart."""


def hashed_name(server: str, tool: str, hash_length: int = 8) -> str:
    """`<server>__<tool>_<hash>` fitted into 64 characters, hash of the original pair.

    A long server name is cut before the tool name: the tool part is what tells the model one
    tool of a server from another, so two tools of a server with a 70-character name (e.g. from
    `[servers.NAME]`) stay readable rather than becoming the same prefix with two hashes.
    """
    suffix = "_" + _digest(server, tool, hash_length)
    safe_server, safe_tool = _BAD_CHARS.sub("_", server), _BAD_CHARS.sub("_", tool)
    room = MAX_NAME_LENGTH - len(suffix) - len(SEPARATOR)
    if len(safe_server) + len(safe_tool) <= room:
        return f"{safe_server}{SEPARATOR}{safe_tool}{suffix}"
    server_room = max(room - len(safe_tool), min(len(safe_server), MIN_SERVER_CHARS))
    tool_room = room - min(len(safe_server), server_room)
    # A cut that ends in "_" would run into the separator ("for___tool"), blurring where it is.
    short_server = safe_server[:server_room].rstrip("_-") or safe_server[:server_room]
    return f"{short_server}{SEPARATOR}{safe_tool[:tool_room]}{suffix}"


def expose_name(server: str, tool: str) -> str:
    """The name for one tool considered alone: plain if already valid, else hashed."""
    raw = f"{server}{SEPARATOR}{tool}"
    return raw if is_valid_name(raw) else hashed_name(server, tool)


def assign_names(pairs: Iterable[tuple[str, str]]) -> Mapping[tuple[str, str], str]:
    """Exposed names for a set of (server, tool) pairs, unique across the set.

    Deterministic: depends only on the set, not on its order. A name already valid and unique
    stays as it is; every pair involved in a clash gets a hashed name (longer hashes if even
    those clash).
    """
    unique = sorted(set(pairs))
    names = {pair: expose_name(*pair) for pair in unique}
    hash_length = 8
    while True:
        by_name: dict[str, list[tuple[str, str]]] = {}
        for pair, name in names.items():
            by_name.setdefault(name, []).append(pair)
        clashes = [group for group in by_name.values() if len(group) > 1]
        if not clashes:
            return names
        for group in clashes:
            for pair in group:
                names[pair] = hashed_name(*pair, hash_length=hash_length)
        hash_length += 4
        if hash_length > 32:  # pragma: no cover - would need a sha256 prefix collision
            raise RuntimeError(f"cannot make unique tool names for {clashes}")
