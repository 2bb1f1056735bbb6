"""mcp-voice."""
