"""How one tool is treated: its `ToolPolicy` from config, its `_meta`, its annotations and the hook."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, get_args

import mcp.types as types

from mcp_voice.tools.spec import (
    META_LONG_RUNNING,
    META_ON_BARGE_IN,
    META_TIMEOUT_S,
    BargeIn,
    ServerSpec,
    ToolPolicy,
)

logger = logging.getLogger(__name__)

PolicyHook = Callable[[str, types.Tool, ToolPolicy], ToolPolicy | None]


def resolve_policy(spec: ServerSpec, tool: types.Tool, hook: PolicyHook | None = None) -> ToolPolicy:
    """Config, then the tool's `_meta`, then its annotations, then the hook (which has the last word)."""
    policy = spec.base_policy(tool.name)
    meta = tool.meta or {}
    changes: dict[str, Any] = {}
    long_running = meta.get(META_LONG_RUNNING)
    if isinstance(long_running, bool):
        changes["long_running"] = long_running
    on_barge_in = meta.get(META_ON_BARGE_IN)
    if on_barge_in in get_args(BargeIn):
        changes["on_barge_in"] = on_barge_in
    timeout_s = meta.get(META_TIMEOUT_S)
    if isinstance(timeout_s, int | float) and not isinstance(timeout_s, bool) and timeout_s > 0:
        changes["timeout_s"] = float(timeout_s)
    if tool.annotations is not None and tool.annotations.destructive_hint is True:
        changes["approval"] = True
    if changes:
        policy = ToolPolicy(**{**policy.__dict__, **changes})
    if hook is not None:
        try:
            replaced = hook(spec.name, tool, policy)
        except Exception:
            logger.exception("tool_policy hook failed for %s/%s; keeping %s", spec.name, tool.name, policy)
        else:
            if isinstance(replaced, ToolPolicy):
                policy = replaced
    return policy
