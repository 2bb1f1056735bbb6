"""pipecat-ai's OpenAIRealtimeLLMService against mcp-voice serve in `host_calls=hidden` mode.

Run by pytest as a subprocess: `python pipecat_client.py WS_URL TEXT REPLY [--function NAME]`.
A pipeline (context aggregators around the service) starts from a context whose user message is
TEXT, and runs until an assistant text containing REPLY is complete, then one more turn (a
system note, the fence) so any further response the first turn caused shows up before it; the
turn's responses are counted once the session has been quiet for 3 s.
With `--function NAME` the service has a client-side function tool NAME whose handler answers
"echoed <word>". Prints one JSON line of counts.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pipecat.adapters.schemas.function_schema import FunctionSchema
from pipecat.adapters.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMMessagesAppendFrame,
    LLMRunFrame,
    LLMTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams
from pipecat.services.openai.realtime.events import SessionProperties
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

FENCE = "fence note"


class CountingService(OpenAIRealtimeLLMService):
    """The service as it is; only counts the responses it sees start and end."""

    created = 0
    done = 0

    async def _handle_evt_response_created(self, evt: Any) -> None:
        type(self).created += 1
        await super()._handle_evt_response_created(evt)

    async def _handle_evt_response_done(self, evt: Any) -> None:
        type(self).done += 1
        await super()._handle_evt_response_done(evt)


class Collector(FrameProcessor):
    """Assistant texts (joined per response) and errors, as they pass."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.errors: list[str] = []
        self._current = ""
        self.changed = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame):
            self._current += frame.text
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.texts.append(self._current)
            self._current = ""
            self.changed.set()
        elif isinstance(frame, ErrorFrame):
            self.errors.append(str(frame.error))
            self.changed.set()
        await self.push_frame(frame, direction)

    async def until(self, predicate: Any, what: str) -> None:
        async with asyncio.timeout(60):
            while not predicate():
                if self.errors:
                    raise RuntimeError(f"pipecat error before {what}: {self.errors}")
                self.changed.clear()
                await self.changed.wait()


async def main(url: str, text: str, reply: str, function: str | None) -> dict[str, Any]:
    tools = None
    if function:
        schema = FunctionSchema(
            name=function,
            description="Echo a word.",
            properties={"word": {"type": "string"}},
            required=["word"],
        )
        tools = ToolsSchema(standard_tools=[schema])
    messages: list[Any] = [{"role": "user", "content": text}]
    context = LLMContext(messages=messages, tools=tools) if tools else LLMContext(messages=messages)
    pair = LLMContextAggregatorPair(context)
    llm = CountingService(
        api_key="client-key",
        base_url=url,
        settings=CountingService.Settings(session_properties=SessionProperties(output_modalities=["text"])),
    )
    calls: list[dict[str, Any]] = []

    async def echo(params: FunctionCallParams) -> None:
        calls.append(dict(params.arguments))
        await params.result_callback(f"echoed {params.arguments.get('word')}")

    if function:
        llm.register_function(function, echo)
    collector = Collector()
    task = PipelineTask(Pipeline([pair.user(), llm, collector, pair.assistant()]))
    runner = PipelineRunner(handle_sigint=False)
    run = asyncio.create_task(runner.run(task))
    try:
        await task.queue_frames([LLMRunFrame()])
        await collector.until(lambda: any(reply in t for t in collector.texts), "the reply")
        # Every response the turn caused, counted until 3 s pass with none started and no text.
        while True:
            seen = (CountingService.created, CountingService.done, len(collector.texts))
            await asyncio.sleep(3.0)
            if seen == (CountingService.created, CountingService.done, len(collector.texts)):
                break
        turn = CountingService.created
        spoken = sum(reply in t for t in collector.texts)
        # Straight into the service, as an application's own processor next to it would push it.
        await llm.queue_frame(LLMMessagesAppendFrame([{"role": "system", "content": FENCE}], run_llm=True))
        await collector.until(lambda: any(FENCE in t for t in collector.texts), "the fence")
        return {
            "responses_before_fence": turn,
            "responses_until_quiet": turn,
            "reply_spoken": spoken,
            "responses_created": CountingService.created,
            "texts": collector.texts,
            "function_calls": calls,
            "errors": collector.errors,
        }
    finally:
        await task.cancel()
        await asyncio.wait_for(run, 30)


if __name__ == "__main__":
    url, text, reply, *rest = sys.argv[1:]
    function = rest[1] if rest[:1] == ["--function"] else None
    print(json.dumps(asyncio.run(main(url, text, reply, function))))
