"""mcp-voice filesystem plugin: an MCP server jailed to one directory tree (docs/filesystem.md).

This module is the `filesystem` entry point, so it exposes the hook implementation.
"""

from .jail import FilesystemError, RootError
from .plugin import FilesystemSettings, register_servers
from .server import build_server

__all__ = ["FilesystemError", "FilesystemSettings", "RootError", "build_server", "register_servers"]
