"""The comparison run (part of `make demo`): each part natively, one after another, measured with the same
workload by `comparison.measure`; then `docs/comparison.md`, `docs/comparison.json` and the plots."""
from __future__ import annotations

import subprocess
import sys

from common.errors import exit_status
from common.settings import ROOT
from comparison import report
from labkit.benchkit import run_part_measured
from labkit.runtime.spec import PARTS


def main() -> int:
    out = ROOT / ".run" / "comparison"
    results, memory = {}, {}
    for part in PARTS:
        command = [sys.executable, "-m", "comparison.measure", part, "--out", str(out)]  # writes <out>/<part>.json
        try:
            results[part], memory[part] = run_part_measured(part, command, out / f"{part}.json")
        except subprocess.CalledProcessError as exc:
            print(f"comparison of {part} failed (exit {exc.returncode})", file=sys.stderr)
            return exc.returncode
    for path in report.write(results, ROOT, memory):
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
