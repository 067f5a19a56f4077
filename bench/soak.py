"""Soak: 1,000 jobs with random cancels, faults and worker kills in real worker processes.

    .venv/bin/python bench/soak.py --jobs 1000 --kills 5 --rss-kills 20 \
        --json bench/results/soak-tiny-cpu-worker-process.json

Two runs on the tiny family, each with the engine's models in a worker process (as `lcm-bot run`):
  soak       --jobs jobs, 48 in flight, 10 % cancelled at a random moment, 5 % failing in the
             worker (the jobs' own fault), and --kills SIGKILLs of the worker mid-batch, evenly
             spread. Every handle must resolve; threads, descriptors and RSS are compared before
             and after, each time with an idle warm worker.
  rss        --rss-kills SIGKILLs of the worker mid-batch, one after the other; the RSS of this
             process and its children is compared before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo: tests' fault injection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in the soak")
    parser.add_argument("--kills", type=int, default=5, help="worker kills during the soak")
    parser.add_argument("--rss-kills", type=int, default=20, help="worker kills in the RSS run")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--only",
        choices=("soak", "rss"),
        help="run one part and update only its section of an existing --json file",
    )
    options = parser.parse_args()

    import torch

    from tests.generation.soak import rss_after_kills, soak

    result = {}
    if options.only and options.json and options.json.exists():
        result = json.loads(options.json.read_text())
    if options.only != "rss":
        result["soak"] = asyncio.run(soak(jobs=options.jobs, kills=options.kills)).as_dict()
    if options.only != "soak":
        result["rss_after_kills"] = asyncio.run(rss_after_kills(options.rss_kills))
    result.update(
        machine={
            "cpu": platform.processor() or platform.machine(),
            "cpu_cores": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
            "family": "tiny",
            "worker": "process",
        }
    )
    text = json.dumps(result, indent=2)
    print(text)
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(text + "\n")
    ok = result["soak"]["unresolved"] == 0 and result["rss_after_kills"]["rss_ratio"] <= 1.10
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
