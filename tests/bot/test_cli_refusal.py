"""`lcm-bot generate` refuses bad input before torch, diffusers, transformers or alembic loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.bot.cli_env import clean_env

# The console script runs under `python -X importtime`, which lists every module the process
# imported. How fast a refusal is, is measured by bench/cli_refusal.py, not here.
LCM_BOT = Path(sys.executable).with_name("lcm-bot")
MODEL_LIBRARIES = ("torch", "diffusers", "transformers")
# Not a model library, but a third of a second that only `lcm-bot db` needs.
MIGRATIONS = "alembic"


@pytest.fixture
def folder(tmp_path) -> Path:
    """An empty working directory (no `.env`) with a 1×1 image and a PDF named .png."""
    Image.new("RGB", (1, 1), (200, 30, 30)).save(tmp_path / "one-pixel.png")
    (tmp_path / "fake.png").write_bytes(b"%PDF-1.4 not an image")
    (tmp_path / "styles.toml").write_text('[styles.ink]\nsource = "owner/ink-lora"\n')
    return tmp_path


def imported_top_level(importtime_stderr: str) -> set[str]:
    """Top-level package names from `-X importtime` lines (`import time: self | total | name`)."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--mode", "img2img", "--image", "one-pixel.png"],
            "error: image: 1×1 is too small (allowed: at least 8×8 pixels)",
        ),
        (
            ["--mode", "img2img", "--image", "fake.png"],
            "error: image: PDF files cannot be used (allowed: PNG, JPEG, WebP or GIF)",
        ),
        (["--mode", "img2img", "--image", "absent.png"], "error: image: cannot read absent.png"),
        (["--steps", "20"], "error: steps: 20 is out of range (allowed: 1–8)"),
        (["--size", "big"], "error: size: could not read two whole numbers from it"),
        (["--count", "9"], "error: count: 9 is out of range (allowed: 1–8)"),
        (["--style", "chalk", "--styles-file", "styles.toml"], "error: style: unknown style"),
        (["--model", "sd3"], "error: unknown model family 'sd3'; choose one of sd15,"),
        (["--device", "gpu"], "error: device: unknown device 'gpu' (allowed: auto, cuda, cuda:N"),
        (["--dtype", "fp16"], "error: dtype: unknown dtype 'fp16' (allowed: auto, float16,"),
    ],
)
def test_a_refusal_imports_no_model_library(folder, args, message):
    env = clean_env(folder, HF_HUB_OFFLINE="1")
    # sd15, the default family: refusing needs none of its files, so nothing is downloaded.
    command = [sys.executable, "-X", "importtime", str(LCM_BOT), "generate", "a fox"]
    command += ["--model", "sd15", "--out", "out", *args]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(errors) == 1 and errors[0].startswith(message), errors
    imported = imported_top_level(done.stderr)
    assert "bot" in imported and "generation" in imported, "importtime lines were read"
    assert not imported & set(MODEL_LIBRARIES), f"imported before refusing: {args}"
    assert MIGRATIONS not in imported
    assert not (folder / "out").exists(), "nothing is written for a refused job"


def test_the_command_line_is_built_without_the_image_libraries(folder):
    """Docker's health check runs `lcm-bot health` every 30 s: building the command line (every
    subcommand's options, outpaint's and upscale's choices too) loads no numpy or Pillow."""
    command = [sys.executable, "-X", "importtime", str(LCM_BOT), "--help"]
    done = subprocess.run(
        command, cwd=folder, env=clean_env(folder), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = imported_top_level(done.stderr)
    assert "bot" in imported, "importtime lines were read"
    assert not imported & {"numpy", "PIL", *MODEL_LIBRARIES}
