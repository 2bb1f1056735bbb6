"""A longer fuzzing campaign than CI's: the Hypothesis properties of tests/session/test_fuzz.py
(the host in memory: client and upstream events, tool calls, barge-in) and of
tests/serve/test_no_silent_ends.py (client messages through serve and the simulator).

    python bench/fuzz.py [--examples 2000]

Prints what was exercised (client events, upstream events, tool calls, barge-ins, sessions) and
whether any property failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = ["tests/session/test_fuzz.py", "tests/serve/test_no_silent_ends.py"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    stats: Counter[str] = Counter()
    failures = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "stats.jsonl"
        env = {
            **os.environ,
            "MCP_VOICE_FUZZ_EXAMPLES": str(args.examples),
            "MCP_VOICE_FUZZ_STATS": str(record),
        }
        for file in FILES:  # one process each: the test folders' conftest modules share a name
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=0"]
            done = subprocess.run([*command, file, "-k", "fuzzed"], cwd=REPO, env=env, check=False)
            failures += done.returncode != 0
        if record.exists():
            for line in record.read_text().splitlines():
                stats.update(json.loads(line))
    print(f"{args.examples} examples per property in {time.perf_counter() - start:.0f} s: {dict(stats)}")
    print("result:", "no property failed" if not failures else f"{failures} file(s) with a failing property")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
