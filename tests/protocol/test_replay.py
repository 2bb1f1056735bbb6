"""ConversationLog: what a new upstream session is given, within a budget, never losing an owed call."""

from __future__ import annotations

from mcp_voice.protocol.replay import ConversationLog, merge_config


def message(item_id: str, role: str, text: str, kind: str = "input_text") -> dict:
    key = "transcript" if kind.endswith("audio") else "text"
    return {"type": "message", "id": item_id, "role": role, "content": [{"type": kind, key: text}]}


def test_audio_becomes_its_transcript_and_empty_items_are_left_out() -> None:
    log = ConversationLog()
    log.upsert({"type": "message", "id": "u1", "role": "user", "content": [{"type": "input_audio"}]})
    log.transcript("u1", 0, "what time is it")
    log.upsert(message("a1", "assistant", "ten past three", "output_audio"))
    log.upsert({"type": "message", "id": "a2", "role": "assistant", "content": [{"type": "output_audio"}]})
    log.upsert({"type": "function_call", "id": "c0", "call_id": "k0", "status": "in_progress", "name": "f"})
    items = log.replay_items(10_000)
    assert items == [
        {
            "type": "message",
            "id": "u1",
            "role": "user",
            "content": [{"type": "input_text", "text": "what time is it"}],
        },
        {
            "type": "message",
            "id": "a1",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ten past three"}],
        },
    ]


def test_over_budget_the_oldest_turns_are_summarised_but_an_owed_call_stays() -> None:
    log = ConversationLog()
    log.upsert({"type": "function_call", "id": "c1", "call_id": "owed", "name": "slow", "arguments": "{}"})
    for n in range(20):
        log.upsert(message(f"u{n}", "user", f"question {n} " + "x" * 100))
        log.upsert(message(f"a{n}", "assistant", f"answer {n} " + "y" * 100, "output_text"))
    log.upsert({"type": "function_call", "id": "c2", "call_id": "done", "name": "quick", "arguments": "{}"})
    log.upsert({"type": "function_call_output", "id": "o2", "call_id": "done", "output": "42"})
    items = log.replay_items(1500)
    ids = [item["id"] for item in items]
    summary = items[0]
    assert summary["role"] == "system" and "abridged" in summary["content"][0]["text"]
    assert "c1" in ids  # its output is still owed: never dropped
    assert ids[-3:] == ["a19", "c2", "o2"]  # the newest turns are kept whole
    assert "u0" not in ids and "question" in summary["content"][0]["text"]
    kept_text = sum(len(p.get("text", "")) for item in items[1:] for p in item.get("content", []))
    assert kept_text <= 1500


def test_deleted_items_are_not_replayed_and_config_merges_key_by_key() -> None:
    log = ConversationLog()
    log.upsert(message("u1", "user", "hi"))
    log.delete("u1")
    assert log.replay_items(1000) == []
    merged = merge_config(
        {"audio": {"input": {"format": {"type": "audio/pcm"}}, "output": {"voice": "marin"}}},
        {"audio": {"input": {"turn_detection": None}}, "instructions": "x"},
    )
    assert merged == {
        "audio": {
            "input": {"format": {"type": "audio/pcm"}, "turn_detection": None},
            "output": {"voice": "marin"},
        },
        "instructions": "x",
    }
