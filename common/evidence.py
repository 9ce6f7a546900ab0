"""Evidence files: a header saying when, where and on which runtime a real run happened, then the sections."""
from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

from .settings import ROOT


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


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
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
