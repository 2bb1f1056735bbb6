"""The tasks client (mcp_voice/tools/tasks.py) against fastmcp-tasks, through the registry."""

from __future__ import annotations

from pathlib import Path

import anyio
import mcp_types
import pytest

from mcp_voice.tools import ServerSpec, ToolRegistry
from mcp_voice.tools.tasks import CallHooks, TaskInfo, get_task
from tests.tasks.conftest import HttpTaskServer, task_stdio
from tests.tools.conftest import wait_for_file

pytestmark = pytest.mark.anyio


async def test_a_task_call_is_announced_reports_progress_and_returns_its_result(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("tasks", task_stdio(tmp_path))]) as registry:
        assert registry.errors == {}
        created: list[tuple[float, TaskInfo]] = []
        progress: list[str | None] = []
        hooks = CallHooks()
        started = anyio.current_time()

        def on_task(info: TaskInfo) -> None:
            created.append((anyio.current_time() - started, info))

        result = await registry.call(
            "tasks__slow_count",
            {"steps": 4, "delay_s": 0.3},
            on_task=on_task,
            progress=lambda done, total, message: progress.append(message),
            hooks=hooks,
        )
        elapsed = anyio.current_time() - started
        assert result.output == "counted 4"
        assert not result.is_error
        assert len(created) == 1 and created[0][0] < 0.5 * elapsed
        assert created[0][1].poll_interval_ms == 200
        assert any(m and m.startswith("step ") for m in progress)
        # at most one tasks/get per 200 ms poll interval
        assert 1 <= hooks.gets <= elapsed / 0.2 + 1
        quick = await registry.call("tasks__quick", {"text": "x"}, on_task=on_task)
        assert quick.output == "quick x" and len(created) == 1


async def test_a_failed_task_is_an_error_result(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("tasks", task_stdio(tmp_path))]) as registry:
        result = await registry.call("tasks__failing", {"reason": "disk on fire"})
        assert result.is_error
        assert "disk on fire" in result.output


async def test_cancelling_the_caller_cancels_the_task_at_the_server(http_task_server: HttpTaskServer) -> None:
    async with ToolRegistry([ServerSpec("tasks", http_task_server.url)]) as registry:
        hooks = CallHooks()
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: registry.call("tasks__slow_count", {"steps": 50, "delay_s": 0.2}, hooks=hooks)
            )
            await wait_for_file(http_task_server.events / "started-50", 10)
            group.cancel_scope.cancel()
        assert hooks.task is not None
        # Another client (as another process would) asks the server about the task.
        async with ToolRegistry([ServerSpec("again", http_task_server.url)]) as other:
            client = other._connections["again"]._client
            assert client is not None
            with anyio.fail_after(5):
                # tasks/cancel is cooperative: the server reports cancelled once it has stopped.
                while (state := await get_task(client.session, hooks.task.task_id)).status == "working":  # noqa: ASYNC110
                    await anyio.sleep(0.1)
            assert state.status == "cancelled"


async def test_another_registry_resumes_a_task_by_its_id(http_task_server: HttpTaskServer) -> None:
    async with ToolRegistry([ServerSpec("tasks", http_task_server.url)]) as first:
        hooks = CallHooks()
        created = anyio.Event()
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await first.call(
                    "tasks__slow_count",
                    {"steps": 3, "delay_s": 0.3},
                    hooks=hooks,
                    on_task=lambda _: created.set(),
                )

            group.start_soon(call)
            await created.wait()
            assert hooks.task is not None
            async with ToolRegistry([ServerSpec("tasks", http_task_server.url)]) as second:
                resumed = await second.resume("tasks", hooks.task.task_id)
            assert "counted 3" in resumed.output and not resumed.is_error
        missing = await first.resume("tasks", "no-such-task")
        assert missing.is_error and "not found" in missing.output


async def test_a_task_waiting_for_input_is_answered_through_ask(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("tasks", task_stdio(tmp_path))]) as registry:
        asked: list[str] = []

        async def ask(params: mcp_types.ElicitRequestParams) -> mcp_types.ElicitResult:
            asked.append(params.message)
            return mcp_types.ElicitResult(action="accept", content={"name": "Ada"})

        tasks: list[TaskInfo] = []
        result = await registry.call("tasks__ask_name", {}, ask=ask, on_task=tasks.append)
        assert result.output == "hello Ada" and asked == ["What is your name?"] and len(tasks) == 1
        declined = await registry.call("tasks__ask_name", {})  # nobody to ask: declined
        assert declined.output == "no name (decline)"
