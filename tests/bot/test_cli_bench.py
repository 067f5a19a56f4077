"""`lcm-bot bench` on the tiny family: both paths run, the JSON has every documented key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REQUIRED_KEYS = {
    "device",
    "model",
    "size",
    "steps",
    "users",
    "jobs",
    "baseline_images_per_s",
    "engine_images_per_s",
    "ratio",
    "p50_ms",
    "p95_ms",
}


def test_bench_prints_both_paths_and_writes_json(tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("lcm-bot")),
            "bench",
            "--model",
            "tiny",
            "--users",
            "3",
            "--jobs-per-user",
            "2",
            "--batch-images",
            "4",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("ratio: the engine serves ")
    assert any(line.startswith("baseline (one pipe() call per request") for line in lines)
    result = json.loads(out.read_text())
    assert result.keys() >= REQUIRED_KEYS
    assert result["jobs"] == 6 and result["users"] == 3 and result["model"] == "tiny"
    assert result["ceiling_pct"] is None, "no ceiling is claimed off CUDA"
    assert sum(int(size) * n for size, n in result["batch_sizes"].items()) == 6
    expected_ratio = result["engine_images_per_s"] / result["baseline_images_per_s"]
    assert abs(result["ratio"] - expected_ratio) < 0.01 * expected_ratio
