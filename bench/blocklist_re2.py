"""How long a blocklist pattern built to backtrack takes on a 1,000-character prompt, on RE2.

    python bench/blocklist_re2.py [--json results/blocklist-re2.json]

Matches the patterns through bot.blocklist (the code the bot runs: fold the prompt, RE2 search)
and, for contrast, Python's backtracking `re` on prompts short enough to finish.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.blocklist import Blocklist, Rule

PATTERNS = ["(a+)+$", "(a|aa)+$", "(a*)*b", "(x+x+)+y", "^(([a-z])+.)+[A-Z]([a-z])+$"]
PROMPT_LENGTH = 1000
RUNS = 50


def time_re2(pattern: str, prompt: str) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each match: on a loaded machine the wall time includes waiting
    for a core, the CPU time only the matching."""
    blocklist = Blocklist([Rule("regex", pattern)])
    blocklist.first_match([prompt])  # compile once (cached), as the bot does after the first job
    wall, cpu = [], []
    for _ in range(RUNS):
        start, start_cpu = time.perf_counter(), time.thread_time()
        blocklist.first_match([prompt])
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def _summary(wall: list[float], cpu: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(wall) * 1000, 3),
        "max": round(max(wall) * 1000, 3),
        "cpu_max": round(max(cpu) * 1000, 3),
    }


def time_python_re(pattern: str, length: int) -> float:
    program = re.compile(pattern)
    start = time.perf_counter()
    program.search("a" * length + "!")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    prompt = "a" * (PROMPT_LENGTH - 1) + "!"  # no match: the worst case for a backtracker
    report = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "load_average": round(os.getloadavg()[0], 1),
        "prompt_characters": PROMPT_LENGTH,
        "runs": RUNS,
        "re2_ms": {p: _summary(*time_re2(p, prompt)) for p in PATTERNS},
        # Python's re on the first pattern: each character more doubles the time.
        "python_re_ms_by_length": {
            n: round(time_python_re(PATTERNS[0], n) * 1000, 1) for n in (18, 20, 22, 24)
        },
    }
    report["re2_worst_ms_overall"] = max(t["max"] for t in report["re2_ms"].values())
    report["re2_worst_cpu_ms_overall"] = max(t["cpu_max"] for t in report["re2_ms"].values())
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
