"""Fuzzed client and upstream events through real serve sessions; how many sessions ended.

Run by `bench/fuzz.py` (the default part). Every session is a real WebSocket to serve on loopback,
whose upstream is a loopback GA server that plays the fuzzed upstream events; the metrics tap,
the event log and the reconnect mirror are all on. After its events each session is probed (a
`conversation.item.retrieve` the upstream refuses: the `error` must reach the client): a session
that closed, or never answered, ended.
Only the public serve API is used, so the same script measures an older checkout.
"""

from __future__ import annotations

import copy
import json
import random
import tempfile
import time
from collections import Counter
from typing import Any

import anyio
import websockets

from mcp_voice.serve.app import create_app
from mcp_voice.serve.run import bind_socket, running
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.session.settings import HostSettings
from mcp_voice.tools.registry import ToolRegistry

Event = dict[str, Any]
PROBE_TIMEOUT_S = 30.0
_AUDIO = "AAAA" * 40

CLIENT_TEMPLATES: list[Event] = [
    {"type": "input_audio_buffer.append", "audio": _AUDIO},
    {"type": "input_audio_buffer.append", "audio": _AUDIO, "event_id": "ev_a"},
    {"type": "session.update", "event_id": "ev_s", "session": {"type": "realtime", "instructions": "hi"}},
    {"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function", "name": "f"}]}},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": []}},
    {"type": "conversation.item.create", "item": {"type": "mcp_approval_response", "approve": True,
                                                  "approval_request_id": "a"}},
    {"type": "conversation.item.retrieve", "item_id": "item_x"},
    {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": 10},
    {"type": "conversation.item.delete", "item_id": "i"},
    {"type": "response.cancel"},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {"type": "output_audio_buffer.clear"},
]  # fmt: skip
"""Not `response.create`: the fake upstream plays no model, and queued creates would only wait."""

UPSTREAM_TEMPLATES: list[Event] = [
    {"type": "response.created", "event_id": "e", "response": {"id": "resp_f", "status": "in_progress",
                                                               "output": []}},
    {"type": "response.done", "event_id": "e", "response": {"id": "resp_f", "status": "completed",
                                                            "output": [], "usage": {"input_tokens": 3}}},
    {"type": "response.output_item.done", "event_id": "e", "response_id": "resp_f", "output_index": 0,
     "item": {"id": "item_f", "type": "message", "status": "completed", "content": []}},
    {"type": "conversation.item.added", "event_id": "e", "item": {"id": "item_g", "type": "message",
                                                                  "content": [{"type": "text"}]}},
    {"type": "conversation.item.done", "event_id": "e", "item": {"id": "item_g", "type": "message"}},
    {"type": "rate_limits.updated", "event_id": "e", "rate_limits": [{"name": "tokens", "limit": 10,
                                                                      "remaining": 5}]},
    {"type": "error", "event_id": "e", "error": {"type": "invalid_request_error", "message": "m",
                                                 "event_id": None}},
    {"type": "session.updated", "event_id": "e", "session": {"type": "realtime", "tools": []}},
    {"type": "response.output_audio.delta", "event_id": "e", "response_id": "resp_f", "item_id": "i",
     "output_index": 0, "content_index": 0, "delta": _AUDIO},
    {"type": "input_audio_buffer.speech_started", "event_id": "e", "audio_start_ms": 0, "item_id": "i"},
    {"type": "input_audio_buffer.committed", "event_id": "e", "item_id": "i"},
]  # fmt: skip


def _deep(rng: random.Random) -> Any:
    value: Any = []
    for _ in range(rng.choice((40, 250, 300, 600))):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def odd_value(rng: random.Random) -> Any:
    """A value of a type or size no field expects."""
    choices: list[Any] = [None, True, False, 0, -1, 7, 2**70, 1.5, "", "x", "e" * 600, [], {}, [1, "a"],
                          {"a": {}}, ["x"], {"type": ["x"]}, [{"id": 5}],
                          {"id": ["x"], "usage": 3}]  # fmt: skip
    return _deep(rng) if rng.random() < 0.08 else copy.deepcopy(rng.choice(choices))


def mutate(rng: random.Random, template: Event) -> str:
    """One fuzzed message: `template` with 1-3 fields replaced, removed or added, or broken text."""
    roll = rng.random()
    if roll < 0.03:
        return rng.choice(["not json {", "[1, 2]", '"text"', "null", "{", "[" * 1100 + "]" * 1100])
    event = copy.deepcopy(template)
    if roll < 0.06:
        return json.dumps(event).replace('"type": "', '"type": "\\u0020', 1)  # an escaped type
    for _ in range(rng.randint(1, 3)):
        target = event
        nested = [key for key, value in event.items() if isinstance(value, dict)]
        if nested and rng.random() < 0.4:
            target = event[rng.choice(nested)]
        keys = list(target)
        action = rng.random()
        if keys and action < 0.7:
            target[rng.choice(keys)] = odd_value(rng)
        elif keys and action < 0.8:
            del target[rng.choice(keys)]
        else:
            target[rng.choice(["event_id", "item", "response", "rate_limits", "extra", "type"])] = odd_value(
                rng
            )
    return json.dumps(event)


class ScriptedUpstream:
    """A loopback GA server: `session.created`, answers `session.update`, plays what it is given."""

    def __init__(self) -> None:
        self.port = 0
        self.current: websockets.ServerConnection | None = None
        self.connected = anyio.Event()

    async def handler(self, ws: websockets.ServerConnection) -> None:
        self.current = ws
        self.connected.set()
        session: Event = {"type": "realtime", "object": "realtime.session", "id": "sess_f", "model": "m"}
        try:
            await ws.send(json.dumps({"type": "session.created", "event_id": "ev_c", "session": session}))
            async for message in ws:
                try:
                    event = json.loads(message)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                if event.get("type") == "session.update":
                    update = event.get("session") if isinstance(event.get("session"), dict) else {}
                    session = {**session, **update}
                    await ws.send(
                        json.dumps({"type": "session.updated", "event_id": "ev_u", "session": session})
                    )
                elif event.get("type") == "conversation.item.retrieve":  # the probe: answered as OpenAI does
                    error = {"type": "invalid_request_error", "code": "item_not_found", "message": "none",
                             "param": "item_id", "event_id": event.get("event_id")}  # fmt: skip
                    await ws.send(json.dumps({"type": "error", "event_id": "ev_e", "error": error}))
        except websockets.ConnectionClosed:
            pass

    async def play(self, messages: list[str]) -> None:
        with anyio.fail_after(10):
            await self.connected.wait()
        assert self.current is not None
        for message in messages:
            await self.current.send(message)


async def _one_session(
    where: str, upstream: ScriptedUpstream, client: list[str], played: list[str], number: int
) -> str | None:
    """None if the session survived its events; else how it ended."""
    upstream.connected = anyio.Event()
    marker = f"probe-{number}"
    answered = anyio.Event()
    ended: list[str] = []
    async with websockets.connect(f"ws://{where}/v1/realtime", max_size=None) as ws:

        async def read() -> None:
            try:
                async for message in ws:
                    event = json.loads(message)
                    if event.get("type") == "error" and (event.get("error") or {}).get("event_id") == marker:
                        answered.set()
                        return
            except websockets.ConnectionClosed as exc:
                rcvd = exc.rcvd
                ended.append(f"{rcvd.code} {rcvd.reason}" if rcvd else "closed")
            else:
                code = ws.close_code
                ended.append(f"{code} {ws.close_reason}")
            answered.set()

        async with anyio.create_task_group() as group:
            group.start_soon(read)
            try:
                for message in client:
                    await ws.send(message)
                await upstream.play(played)
                probe = {"type": "conversation.item.retrieve", "item_id": marker, "event_id": marker}
                await ws.send(json.dumps(probe))
            except websockets.ConnectionClosed:
                pass
            with anyio.move_on_after(PROBE_TIMEOUT_S) as scope:
                await answered.wait()
            if scope.cancelled_caught:
                ended.append("no answer to the probe")
            group.cancel_scope.cancel()
    return ended[0] if ended else None


async def _campaign(client_events: int, upstream_events: int, per_session: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    results: Counter[str] = Counter()
    upstream = ScriptedUpstream()
    with tempfile.TemporaryDirectory() as folder:
        settings = ServeSettings(
            event_log_dir=folder, host=HostSettings(max_events_per_s=1e9), max_sessions=None
        )
        async with websockets.serve(upstream.handler, "127.0.0.1", 0, max_size=None) as server:
            upstream.port = server.sockets[0].getsockname()[1]
            settings = ServeSettings(**{**settings.__dict__, "upstream": f"ws://127.0.0.1:{upstream.port}/"})
            async with ToolRegistry([]) as registry:
                sock = bind_socket("127.0.0.1", 0)
                async with running(create_app(registry, settings), sock):
                    where = f"127.0.0.1:{sock.getsockname()[1]}"
                    for side, total, templates in (
                        ("client", client_events, CLIENT_TEMPLATES),
                        ("upstream", upstream_events, UPSTREAM_TEMPLATES),
                    ):
                        number = 0
                        for start in range(0, total, per_session):
                            count = min(per_session, total - start)
                            messages = [mutate(rng, rng.choice(templates)) for _ in range(count)]
                            client, played = (messages, []) if side == "client" else ([], messages)
                            number += 1
                            how = await _one_session(where, upstream, client, played, number)
                            results[f"{side} sessions"] += 1
                            results[f"{side} events"] += count
                            if how is not None:
                                results[f"{side} sessions ended"] += 1
                                results[f"{side} ended: {how[:60]}"] += 1
    return results


def run_wire_fuzz(client_events: int, upstream_events: int, per_session: int, seed: int) -> int:
    import mcp_voice

    start = time.perf_counter()
    results = anyio.run(_campaign, client_events, upstream_events, per_session, seed)
    print(f"code under test: {mcp_voice.__file__}")
    for key in sorted(results):
        print(f"  {key}: {results[key]}")
    ended = results["client sessions ended"] + results["upstream sessions ended"]
    print(
        f"sessions ended: client {results['client sessions ended']} of {results['client sessions']}, "
        f"upstream {results['upstream sessions ended']} of {results['upstream sessions']} "
        f"(goal 0) in {time.perf_counter() - start:.0f} s"
    )
    return 1 if ended else 0
