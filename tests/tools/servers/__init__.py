"""Small MCP servers the tool-layer tests talk to, in-process and over stdio."""
