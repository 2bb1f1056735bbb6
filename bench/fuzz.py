"""A longer fuzzing campaign than CI's: the Hypothesis properties of tests/session/test_fuzz.py
(in-memory host) and tests/serve/test_no_silent_ends.py (through serve and the simulator).

    python bench/fuzz.py [--examples 2000]

Prints what was exercised (client events, upstream events, tool calls, barge-ins) and the result.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    os.environ["MCP_VOICE_FUZZ_EXAMPLES"] = str(args.examples)
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    import pytest

    start = time.perf_counter()
    code = pytest.main(
        ["-q", "-p", "no:cacheprovider", "-o", "timeout=0", "tests/session/test_fuzz.py", "-k", "fuzzed"]
    )
    # pytest imported the test module under its own name (rootdir-relative, no package)
    module = next(m for name, m in sys.modules.items() if name.endswith("test_fuzz") and hasattr(m, "STATS"))
    stats = dict(module.STATS)
    print(f"{args.examples} examples per property in {time.perf_counter() - start:.0f} s: {stats}")
    print("result:", "no failure" if code == 0 else f"pytest exit code {code}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
