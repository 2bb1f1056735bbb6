"""Fixtures: a real ToolRegistry over small in-process MCP servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec
from tests.session.servers import Probe, build_extra_server, build_voice_server


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def registry(probe: Probe) -> AsyncIterator[ToolRegistry]:
    specs = [
        ServerSpec(name="voice", target=build_voice_server(probe)),
        ServerSpec(name="extra", target=build_extra_server()),
    ]
    async with ToolRegistry(specs) as registry:
        yield registry
