"""The comparison run (part of `make demo`): each part natively, one after another, measured with the same
workload by `comparison.measure`; then `docs/comparison.md`, `docs/comparison.json` and the plots."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.benchkit import PeakMemory  # noqa: E402
from common.runtime.control import Part  # noqa: E402
from comparison import report  # noqa: E402

PARTS = ["sync-rest", "async-rabbitmq", "streaming-kafka"]


def main() -> int:
    out = ROOT / ".run" / "comparison"
    results, memory = {}, {}
    for part in PARTS:
        stack = Part(part)
        try:
            stack.up()
            with PeakMemory(stack.supervisor_pid()) as mem:
                code = subprocess.call([sys.executable, "-m", "comparison.measure", part, "--out", str(out)], cwd=ROOT)
            memory[part] = mem.peak_mib
        finally:
            stack.down()
        if code != 0:
            print(f"comparison of {part} failed (exit {code})", file=sys.stderr)
            return code
        results[part] = json.loads((out / f"{part}.json").read_text())
    for path in report.write(results, ROOT, memory):
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
