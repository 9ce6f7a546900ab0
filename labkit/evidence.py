"""Evidence files: a header saying when, where and on which runtime a real run happened, then the sections."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from common.settings import ROOT


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, "
            f"Python {platform.python_version()}")


# What the runs themselves write: a demo that has already rewritten some of them still runs the committed code.
GENERATED = ("*/tests/test_output.txt", "*/tests/chaos_evidence.txt", "*/tests/replay_evidence.txt",
             "*/tests/failover_evidence.txt", "*/metrics/*.json", "*/tests/docker/*.txt", "*/tests/docker/*.json",
             "docs/comparison.*",
             "docs/benchmarks.*", "docs/img", "docs/clusters.md",
             "README.md")  # README, docs/clusters.md: their measured figures are rendered by runs


def commit(root: Path = ROOT) -> str:
    """The short commit, with `+changes` when tracked code differs from it (generated outputs aside)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", *(f":(exclude,glob){g}" for g in GENERATED)],
                               cwd=root, capture_output=True, text=True).stdout
        return out.stdout.strip() + ("+changes" if dirty.strip() else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def header(title: str, runtime: str) -> str:
    lines = [
        "=" * 78,
        title,
        "=" * 78,
        f"date    : {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"runtime : {runtime}",
        f"machine : {machine()}",
        f"commit  : {commit()}",
        "=" * 78,
    ]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def replace_block(path: Path, name: str, body: str) -> str:
    """Rewrite the text between `<!-- name:start -->` and `<!-- name:end -->` in a file (the measured figures of the
    README and docs/clusters.md are rendered by the runs that measure them, never typed in); returns the block."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body}\n{end}"
    text = path.read_text()
    i, j = text.index(start), text.index(end) + len(end)
    path.write_text(text[:i] + block + text[j:])
    return block


def run_writer(writers: Mapping[str, Callable[[list[str]], int]], argv: list[str] | None = None) -> int:
    """A part's `python -m <part>.lab.evidence [writer] [options]`: the writer named first (the first of `writers`
    when none is named) runs with the remaining arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv.pop(0) if argv and argv[0] in writers else next(iter(writers))
    return writers[name](argv)
