"""Questions a tool asks during a call (MCP elicitation), put to the user by the model, aloud.

A form question becomes a system note (the question, its fields) and a host function tool,
`mcp_voice__answer_question`, that the model calls with the user's spoken answer or a decline;
the answer resumes the call. A URL question is never spoken or shown to the model: the client
gets the link as a `mcp_voice.elicitation.url` event, and the model is told a link was sent.
The answer tool is in the session's tools only while a question waits.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types

from mcp_voice.protocol.events import new_event_id, new_item_id
from mcp_voice.session.items import function_call_output, system_message
from mcp_voice.session.outbox import Outbox
from mcp_voice.session.presenter import HostCallView
from mcp_voice.session.sequencer import ResponseSequencer
from mcp_voice.tools.spec import HostTool, ToolPolicy

logger = logging.getLogger(__name__)

ANSWER_TOOL = "mcp_voice__answer_question"
URL_EVENT = "mcp_voice.elicitation.url"
"""The client event carrying a URL-mode question's link (for a screen; never spoken)."""

ANSWER = HostTool(
    name=ANSWER_TOOL,
    server="mcp_voice",
    tool_name="answer_question",
    description=(
        "Pass the user's answer to a question a running tool asked (a system message gave the "
        "question_id and the fields). Set declined to true if the user does not want to answer."
    ),
    parameters={
        "type": "object",
        "properties": {
            "question_id": {"type": "string"},
            "declined": {"type": "boolean"},
            "answer": {"type": "object", "description": "The fields the question asked for."},
        },
        "required": ["question_id"],
    },
    policy=ToolPolicy(),
)


@dataclass
class _Question:
    view: HostCallView
    schema: dict[str, Any]
    answered: anyio.Event = field(default_factory=anyio.Event)
    result: mcp_types.ElicitResult | None = None


class Questions:
    """The session's open questions, and the answer tool while any is open."""

    def __init__(
        self,
        outbox: Outbox,
        sequencer: ResponseSequencer,
        show_tool: Callable[[HostTool, bool], Awaitable[None]],
    ) -> None:
        self._out = outbox
        self._sequencer = sequencer
        self._show_tool = show_tool
        self._open: dict[str, _Question] = {}

    async def ask(self, view: HostCallView, params: mcp_types.ElicitRequestParams) -> mcp_types.ElicitResult:
        """Put one question to the user and wait for the answer (the caller bounds the wait)."""
        tool = view.tool.name
        if isinstance(params, mcp_types.ElicitRequestURLParams):
            await self._out.client(
                {
                    "type": URL_EVENT,
                    "event_id": new_event_id(),
                    "call_id": view.call_id,
                    "server_label": view.server_label,
                    "message": params.message,
                    "url": params.url,
                    "elicitation_id": params.elicitation_id,
                }
            )
            note = (
                f"The tool {tool} (call_id {view.call_id}) needs the user to open a link: {params.message} "
                "The link has been sent to the user's screen. Tell the user briefly to open it there. "
                "Never read out, spell or guess an address."
            )
            await self._say(note)
            return mcp_types.ElicitResult(action="accept")
        question_id = "q_" + secrets.token_hex(6)
        question = _Question(view, dict(params.requested_schema))
        self._open[question_id] = question
        fields = json.dumps(params.requested_schema, ensure_ascii=False)
        note = (
            f"The tool {tool} (call_id {view.call_id}) asks the user: {params.message}\n"
            f"Ask the user this now, aloud, in your own words. When they answer, call {ANSWER_TOOL} "
            f'with question_id "{question_id}" and answer: an object with these fields: {fields}. '
            "If they do not want to answer, call it with declined: true. Do not invent an answer."
        )
        try:
            if len(self._open) == 1:
                await self._show_tool(ANSWER, True)
            await self._say(note)
            await question.answered.wait()
        finally:
            self._open.pop(question_id, None)
            if not self._open:
                await self._show_tool(ANSWER, False)
        assert question.result is not None
        return question.result

    def owns(self, name: str) -> bool:
        return name == ANSWER_TOOL

    async def answer(self, view: HostCallView) -> None:
        """The model called the answer tool: resume the asking call, and tell the model."""
        try:
            args = json.loads(view.arguments or "{}")
        except json.JSONDecodeError:
            args = {}
        question = self._open.get(str(args.get("question_id"))) if isinstance(args, dict) else None
        if question is None:
            output: dict[str, Any] = {"error": {"message": "there is no open question with that question_id"}}
            view.error = "no such question"
        elif args.get("declined") is True or not isinstance(args.get("answer"), dict):
            question.result = mcp_types.ElicitResult(action="decline")
            output = {"status": "declined", "message": "The tool was told the user declined."}
        else:
            question.result = mcp_types.ElicitResult(action="accept", content=args["answer"])
            output = {"status": "answered", "message": "The tool has the answer and goes on."}
        if question is not None:
            question.answered.set()
            view.output = json.dumps(output)
        text = json.dumps(output, ensure_ascii=False)
        await self._out.add_item(function_call_output(new_item_id(), view.call_id, text))

    async def _say(self, note: str) -> None:
        item = await self._out.add_item(system_message(new_item_id(), note))
        await self._sequencer.request_host([item])
