"""Repository-wide rules that a code review could miss: no pickle loading, safetensors only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "generation", "storage")

FORBIDDEN = [
    (re.compile(r"\bimport\s+(c?pickle|dill|joblib)\b|from\s+(c?pickle|dill)\s+import"), "pickle"),
    (re.compile(r"use_safetensors\s*=\s*False"), "use_safetensors=False"),
    (re.compile(r"\.(ckpt|pt|pth|bin)[\"']"), "a pickle-format weight file name"),
]
TORCH_LOAD = re.compile(r"torch\.load\((?P<args>[^)]*)\)")


def source_files():
    for package in PACKAGES:
        yield from (ROOT / package).rglob("*.py")


# The reviewed exceptions: the name of the pickle file that a pickle-only hub repository
# publishes, read only through torch.load(weights_only=True) into a safetensors mirror; and
# doctor's list of weight-file suffixes, which only recognises a style path to say that a pickle
# format is not loaded (it opens nothing).
ALLOWED = {
    (
        "generation/models/safetensors_mirror.py",
        'PICKLE_WEIGHTS_NAME = "diffusion_pytorch_model.bin"',
    ),
    ("bot/doctor.py", 'WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")'),
}


def test_no_pickle_or_unsafe_weight_loading_in_the_product_code():
    problems = []
    for path in source_files():
        relative = str(path.relative_to(ROOT))
        lines = [
            line
            for line in path.read_text("utf-8").splitlines()
            if (relative, line.strip()) not in ALLOWED
        ]
        text = "\n".join(lines)
        for pattern, what in FORBIDDEN:
            problems += [f"{relative}: {what}" for _ in pattern.finditer(text)]
        for call in TORCH_LOAD.finditer(text):
            if "weights_only=True" not in call.group("args"):
                problems.append(f"{relative}: torch.load without weights_only=True")
    assert problems == []


def test_the_one_pickle_file_name_is_read_only_with_weights_only():
    mirror = (ROOT / "generation/models/safetensors_mirror.py").read_text("utf-8")
    loads = TORCH_LOAD.findall(mirror)
    assert loads and all("weights_only=True" in args for args in loads)
    assert all(
        any(line in path.read_text("utf-8") for path in source_files()) for _, line in ALLOWED
    )


def test_the_check_catches_what_it_claims_to(tmp_path):
    bad = "import pickle\nx = torch.load(path)\nload('w.ckpt')\nf(use_safetensors=False)\n"
    hits = [what for pattern, what in FORBIDDEN if pattern.search(bad)]
    assert len(hits) == 3 and TORCH_LOAD.search(bad)


def test_no_pickle_weight_file_is_tracked():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [f for f in tracked if f.endswith((".ckpt", ".bin", ".pt", ".pth", ".pkl"))] == []


def test_generation_types_import_without_torch():
    """The request and registry types must stay light: the bot imports them on every command."""
    code = (
        "import sys; import generation.modes.requests, generation.models.families,"
        " generation.models.styles;"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [__import__("sys").executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.strip() == "False", done.stderr
