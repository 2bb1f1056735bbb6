"""A longer fuzzing campaign than CI's, in two parts.

At the wire (default): `--client` fuzzed client events and `--upstream` fuzzed upstream events
(mutated GA events: wrong types, deep nesting, odd ids, escaped types, non-JSON) through real
serve sessions on loopback (the metrics tap, the event log and the reconnect mirror all on), and
prints how many sessions ended (the goal: 0). Run it against another checkout to compare:

    PYTHONPATH=/other/checkout:/other/checkout/plugins python bench/fuzz.py --client 100000 --upstream 20000

`--properties`: the Hypothesis properties of tests/session/test_fuzz.py, tests/serve/test_no_silent_ends.py
and tests/serve/test_events_checked.py with `--examples` each; prints what they exercised.
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
FILES = [
    "tests/session/test_fuzz.py",
    "tests/serve/test_no_silent_ends.py",
    "tests/serve/test_events_checked.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--properties", action="store_true", help="run the Hypothesis properties instead")
    parser.add_argument("--client", type=int, default=100_000, help="client events through serve")
    parser.add_argument("--upstream", type=int, default=20_000, help="upstream events through serve")
    parser.add_argument("--per-session", type=int, default=500, help="events per session")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    if not args.properties:
        from wire_fuzz import run_wire_fuzz  # bench/ is on sys.path when run as a script

        return run_wire_fuzz(args.client, args.upstream, args.per_session, args.seed)
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
