"""CallOwnership in one process: a call it runs is never taken over by its own watch, and the
lease is held while the call runs and given up when it ends (the multi-process cases are in
test_call_takeover.py, with real processes)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from takeover_rig import eventually

from mcp_voice.serve.openai_calls.ownership import RECORDS, CallOwnership
from mcp_voice.serve.openai_calls.sideband import SidebandOpener
from mcp_voice.serve.state.memory import MemoryState
from mcp_voice.session.context import CallContext

pytestmark = pytest.mark.anyio


async def test_the_watch_never_takes_over_a_call_this_process_runs() -> None:
    now = [0.0]
    state = MemoryState(clock=lambda: now[0])
    ownership = CallOwnership(state, lease_s=1.0, owner="me")
    runs: list[str] = []
    release, started = anyio.Event(), anyio.Event()

    async def run_call(context: CallContext, tools: Sequence[Any], opener: SidebandOpener) -> None:
        runs.append(context.call_id or "")
        started.set()
        await release.wait()

    @asynccontextmanager
    async def no_sideband() -> Any:
        yield None

    ownership.serve_with(run_call, lambda call_id: no_sideband)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ownership.start, CallContext(transport="sip", call_id="rtc_1"), [], no_sideband)
        tg.start_soon(ownership.watch)
        with anyio.fail_after(5):
            await started.wait()
        assert await state.holder("call:rtc_1") == "me" and "rtc_1" in await state.records(RECORDS)
        now[0] += 60  # as if the loop stalled far past the lease
        assert await state.holder("call:rtc_1") is None
        await anyio.sleep(0.5)  # several watch rounds and a renewal
        assert runs == ["rtc_1"]  # not started a second time
        assert await state.holder("call:rtc_1") == "me"  # the renewal took the lapsed lease back
        release.set()
        await eventually(lambda: _no_records(state))
        assert await state.holder("call:rtc_1") is None  # ended here: lease and record gone
        tg.cancel_scope.cancel()


async def _no_records(state: MemoryState) -> bool:
    return not await state.records(RECORDS)
