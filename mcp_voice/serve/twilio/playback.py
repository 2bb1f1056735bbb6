"""How much of each assistant item the caller has really heard, from Twilio's echoed marks.

Twilio queues the audio we send and plays it in order; a `mark` we send after a chunk comes back
once everything queued before it has played. So an echoed mark proves that much of its item
was heard, and no more: that is what `conversation.item.truncate` must say on barge-in (more
would keep words the caller never heard in the model's memory; more than was received is an
error). Whether marks still queued come back after a `clear` is not settled, so a barge-in
forgets them: a late echo can never move a truncated item's position.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_voice.g711 import BYTES_PER_MS

MARK_PREFIX = "mcpv-"


@dataclass
class _Item:
    sent: int = 0
    """Bytes of this item's audio sent to Twilio."""
    played: int = 0
    """Bytes of it that an echoed mark has proven played."""
    done: bool = False
    """No more audio will come for it (its audio or its response is done)."""


@dataclass(frozen=True)
class Unplayed:
    """An item the caller had not heard to the end when they started speaking."""

    item_id: str
    played_ms: int
    sent_ms: int


class PlaybackTracker:
    """Per call: audio sent per assistant item, the marks in flight, the audio proven played."""

    def __init__(self) -> None:
        self._items: dict[str, _Item] = {}
        self._marks: dict[str, tuple[str, int]] = {}
        """Mark name -> (item id, the item's sent bytes at that mark), oldest first."""
        self._count = 0
        self.cut: set[str] = set()
        """Items interrupted by the caller: audio still arriving for them is not played."""

    @property
    def pending(self) -> int:
        """Marks sent and not yet echoed: audio may be playing."""
        return len(self._marks)

    def sent(self, item_id: str, nbytes: int) -> str:
        """`nbytes` more of `item_id` went to Twilio; returns the name of the mark to send after it."""
        item = self._items.get(item_id)
        if item is None:
            self._forget_played()
            item = self._items[item_id] = _Item()
        item.sent += nbytes
        self._count += 1
        name = f"{MARK_PREFIX}{self._count}"
        self._marks[name] = (item_id, item.sent)
        return name

    def echoed(self, name: str) -> bool:
        """Twilio played up to mark `name` (and so every mark before it). False if not ours / stale."""
        if name not in self._marks:
            return False
        while self._marks:
            first, (item_id, position) = next(iter(self._marks.items()))
            del self._marks[first]
            item = self._items.get(item_id)
            if item is not None:
                item.played = max(item.played, position)
            if first == name:
                return True
        return True  # pragma: no cover - the loop always reaches `name`

    def finished(self, item_id: str | None = None) -> None:
        """No more audio comes for `item_id` (None: for any item so far, e.g. at `response.done`)."""
        for key, item in self._items.items():
            if item_id is None or key == item_id:
                item.done = True

    def played_ms(self, item_id: str) -> int:
        item = self._items.get(item_id)
        return item.played // BYTES_PER_MS if item is not None else 0

    def interrupt(self) -> list[Unplayed]:
        """The caller spoke: which items were not heard to the end, and how far they were.

        An item still streaming counts even if all its audio so far was heard: the server may have
        made more than reached us. Marks in flight are forgotten (their audio is being cleared) and
        the items are cut: their further audio is dropped and they are not reported again.
        """
        unplayed = [
            Unplayed(item_id, item.played // BYTES_PER_MS, item.sent // BYTES_PER_MS)
            for item_id, item in self._items.items()
            if item.played < item.sent or not item.done
        ]
        self._marks.clear()
        for gone in unplayed:
            self.cut.add(gone.item_id)
            del self._items[gone.item_id]
        return unplayed

    def _forget_played(self) -> None:
        """Drop finished items heard to the end (a new item starts): a call's state stays small."""
        for item_id in [i for i, item in self._items.items() if item.done and item.played >= item.sent]:
            del self._items[item_id]
