"""What every benchmark script shares: the machine it ran on, markdown tables, and replacing its
own section of ``benchmarks/RESULTS.md`` (the other sections are kept)."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(versions: str = "") -> list[str]:
    """Markdown bullet lines: platform and library versions (``versions`` appended), CPU,
    threads, load average, GPU when there is one."""
    lines = [f"- platform: `{platform.platform()}`, Python {platform.python_version()}, "
             f"torch {torch.__version__}{versions}",
             f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores (nproc), "
             f"torch intra-op threads {torch.get_num_threads()}"]
    if hasattr(os, "getloadavg"):
        lines.append("- load average (1, 5, 15 min) at the start: "
                     + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if torch.cuda.is_available():
        lines.append(f"- GPU: {torch.cuda.get_device_name()}")
    return lines


def markdown(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def write_section(path: Path, heading: str, section: list[str]) -> None:
    """Replace (or append) the section under ``heading``, keeping every other section."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    body = "\n".join([heading, "", *section]).rstrip() + "\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + body
    path.write_text(text, encoding="utf-8")


def publish(section: list[str], heading: str, started: float, out: Path, write: bool) -> None:
    """End ``section`` with the load average and the benchmark's total time (``started``, a
    ``time.perf_counter()``), print it, and write it under ``heading`` in ``out`` if ``write``."""
    import sys
    import time

    if hasattr(os, "getloadavg"):
        section.append("Load average (1, 5, 15 min) at the end: "
                       + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + ".")
    section += ["", f"Total benchmark time: {time.perf_counter() - started:.0f} s."]
    print("\n".join(section))
    if write:
        write_section(out, heading, section)
        print(f"\nwrote {out}", file=sys.stderr)
