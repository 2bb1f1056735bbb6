"""A stdio MCP server that starts only once a file exists: a server slow to come up, on cue.

`python late_server.py GO_FILE` reads nothing and answers nothing until GO_FILE appears (so
its `initialize` hangs), then serves tool_server.py's tools.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __name__ == "__main__":
    go = Path(sys.argv[1])
    while not go.exists():
        time.sleep(0.05)
    sys.path.insert(0, str(Path(__file__).parent))
    from tool_server import server

    server.run()
