"""Benchmark: how long the real `lcm-bot generate` takes to refuse bad input, a 1×1 image first."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from PIL import Image

# .venv/bin/python bench/cli_refusal.py --runs 7 --json bench/results/cli-refusal.json
#
# Each case runs the installed console script as a fresh process, the way an operator would, with
# the default family (sd15: refusing needs none of its files), no hub access and an empty working
# directory (so no `.env` leaks in). One untimed run per case first warms the file cache; the
# median of the timed runs is the figure. `--baseline` copies the medians of an earlier result
# (the same script run against an older checkout with `--lcm-bot`) into this one, to compare.
LCM_BOT = Path(sys.executable).with_name("lcm-bot")
# The acceptance bound in issue 17: a refusal must come back in under 1.5 s.
BOUND_S = 1.5

# (name, arguments after `generate`, what stderr must say): each one must be refused.
CASES = (
    ("1x1-image", ["--mode", "img2img", "--image", "one-pixel.png"], "error: image:"),
    ("not-an-image", ["--mode", "img2img", "--image", "fake.png"], "error: image:"),
    ("steps-out-of-range", ["--steps", "20"], "error: steps:"),
    ("bad-size", ["--size", "big"], "error: size:"),
)


def _inputs(folder: Path) -> None:
    Image.new("RGB", (1, 1), (200, 30, 30)).save(folder / "one-pixel.png")
    (folder / "fake.png").write_bytes(b"%PDF-1.4 not an image")


def _environment(folder: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LCM_", "DISCORD_", "DATABASE_", "HF_"))
    }
    env.update(HOME=str(folder), HF_HUB_OFFLINE="1", HF_HOME=str(folder / "hf"))
    return env


def run_case(
    lcm_bot: Path, model: str, args: list[str], expect: str, folder: Path, runs: int
) -> dict:
    command = [str(lcm_bot), "generate", "x", "--model", model, "--out", str(folder / "out")]
    command += args
    env = _environment(folder)
    times = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        if done.returncode != 2 or not errors or not errors[-1].startswith(expect):
            raise SystemExit(
                f"{' '.join(args)}: expected exit 2 and {expect!r}, got {done.returncode}: "
                f"{done.stderr.strip()[-500:]}"
            )
        if attempt:  # the first run only warms the file cache
            times.append(elapsed)
    return {
        "arguments": args,
        "message": errors[-1],
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "runs_s": [round(t, 3) for t in times],
    }


def machine() -> dict[str, object]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "lcm-bot": installed("lcm-bot"),
        "torch": installed("torch"),
        "diffusers": installed("diffusers"),
    }


def _commit(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (default 7)")
    parser.add_argument("--lcm-bot", type=Path, default=LCM_BOT, help="the console script to time")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="the git checkout whose code --lcm-bot runs, for the record (default: this one)",
    )
    parser.add_argument("--model", default="sd15", help="model family (default: sd15)")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    parser.add_argument("--baseline", type=Path, help="an earlier result JSON to compare with")
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        _inputs(folder)
        cases = {
            name: run_case(args.lcm_bot, args.model, case_args, expect, folder, args.runs)
            for name, case_args, expect in CASES
        }
    report = {
        "benchmark": "cli-refusal",
        "command": f"python bench/cli_refusal.py --runs {args.runs} --model {args.model}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(args.checkout),
        "bound_s": BOUND_S,
        "within_bound": all(case["median_s"] < BOUND_S for case in cases.values()),
        "cases": cases,
        "machine": machine(),
        # The box has 2 cores and may be shared: say how busy it was.
        "load_average_1min": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
    }
    if args.baseline:
        earlier = json.loads(args.baseline.read_text())
        report["baseline"] = {
            "commit": earlier["commit"],
            "date": earlier["date"],
            "median_s": {name: case["median_s"] for name, case in earlier["cases"].items()},
        }
    for name, case in cases.items():
        print(f"{name:<20} median {case['median_s']:.2f} s  ({case['message']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["within_bound"] else 1


if __name__ == "__main__":
    sys.exit(main())
