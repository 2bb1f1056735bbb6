"""The plugin side: `[plugins.call_control]` settings and the `register_servers` hook."""

from __future__ import annotations

import os
from collections.abc import Callable

from pydantic import ConfigDict, Field, field_validator

from mcp_voice import (
    Config,
    PolicyKeys,
    ServerSpec,
    hookimpl,
    openai_base_url,
    preserve_root_logging,
    valid_transfer_target,
)

from .server import SERVER_NAME, build_server

PLUGIN_NAME = "call_control"


class CallControlSettings(PolicyKeys):
    """`[plugins.call_control]`. The inherited policy keys are the framework's; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    transfer_targets: dict[str, str] = Field(default_factory=dict)
    """Where `transfer` may send a call: a name the model says -> a `tel:` or `sip:` URI. Empty:
    no `transfer` tool."""
    transfer_needs_approval: bool = True
    """Mark `transfer` destructive, so it needs approval ([openai_calls] approval decides on calls)."""
    api_key_env: str = "OPENAI_API_KEY"
    base_url: str | None = None
    """OpenAI's REST base; None: `$OPENAI_BASE_URL`, else https://api.openai.com/v1."""

    @field_validator("transfer_targets")
    @classmethod
    def _uris(cls, targets: dict[str, str]) -> dict[str, str]:
        for name, uri in targets.items():
            if not valid_transfer_target(uri):
                raise ValueError(f"{name}: {uri!r} is not a tel: or sip: URI")
        return targets


@hookimpl
def register_servers(register: Callable[[ServerSpec], None], config: Config) -> None:
    settings = config.plugin_settings(PLUGIN_NAME, CallControlSettings)
    if not settings.enabled:
        return
    key_env = settings.api_key_env

    def api_key() -> str | None:  # read per call, so a rotated key needs no restart
        return os.environ.get(key_env) or None

    with preserve_root_logging():
        server = build_server(
            settings.transfer_targets,
            api_key=api_key,
            rest_base=openai_base_url(os.environ, settings.base_url),
            transfer_needs_approval=settings.transfer_needs_approval,
        )
    register(ServerSpec(name=SERVER_NAME, target=server, plugin=PLUGIN_NAME))
