"""The playback tracker: what the caller heard, from echoed marks only."""

from __future__ import annotations

from mcp_voice.serve.twilio.playback import PlaybackTracker, Unplayed


def test_an_echoed_mark_proves_its_audio_and_everything_before_it() -> None:
    tracker = PlaybackTracker()
    marks = [tracker.sent("a", 800) for _ in range(4)]
    assert tracker.played_ms("a") == 0 and tracker.pending == 4
    assert tracker.echoed(marks[1])  # Twilio plays in order: mark 2 back means mark 1 played too
    assert tracker.played_ms("a") == 200 and tracker.pending == 2
    assert not tracker.echoed("someone-elses-mark")
    assert tracker.interrupt() == [Unplayed("a", 200, 400)]


def test_marks_from_before_a_clear_never_count() -> None:
    tracker = PlaybackTracker()
    early = [tracker.sent("a", 800) for _ in range(3)]
    tracker.echoed(early[0])
    assert tracker.interrupt() == [Unplayed("a", 100, 300)]
    assert "a" in tracker.cut
    for name in early[1:]:  # Twilio echoes the cleared marks after all: they are stale
        assert not tracker.echoed(name)
    later = tracker.sent("b", 800)
    tracker.sent("b", 800)
    tracker.echoed(later)
    assert tracker.interrupt() == [Unplayed("b", 100, 200)]


def test_an_item_still_streaming_is_interrupted_even_if_all_of_it_so_far_was_heard() -> None:
    tracker = PlaybackTracker()
    tracker.echoed(tracker.sent("a", 800))
    assert tracker.interrupt() == [Unplayed("a", 100, 100)]  # the server may have made more than we got


def test_a_finished_item_heard_to_the_end_is_not_interrupted_and_is_forgotten() -> None:
    tracker = PlaybackTracker()
    tracker.echoed(tracker.sent("a", 800))
    tracker.finished("a")
    assert tracker.interrupt() == []
    tracker.sent("b", 800)
    tracker.finished()
    assert tracker.interrupt() == [Unplayed("b", 0, 100)]
    assert tracker.played_ms("a") == 0  # dropped once "b" began: a long call keeps no history


def test_positions_are_whole_milliseconds_never_past_what_was_sent() -> None:
    tracker = PlaybackTracker()
    mark = tracker.sent("a", 805)  # 100.625 ms
    tracker.echoed(mark)
    [unplayed] = tracker.interrupt()
    assert unplayed.played_ms == 100 and unplayed.played_ms <= unplayed.sent_ms
