"""`lcm-bot generate` end to end: the installed console script, the tiny family, real files out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from generation.encode import read_png_parameters

LCM_BOT = Path(sys.executable).with_name("lcm-bot")


def lcm_bot(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LCM_BOT), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    image = Image.new("RGB", (96, 64), (90, 120, 200))
    ImageDraw.Draw(image).rectangle((20, 10, 70, 50), fill=(250, 200, 30))
    image.save(folder / "photo.jpg")
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (30, 20, 60, 40))
    mask.save(folder / "mask.png")
    holed = image.convert("RGBA")
    holed.paste((0, 0, 0, 0), (30, 20, 60, 40))
    holed.save(folder / "holed.png")
    return folder


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("txt2img", ["--count", "2", "--size", "64x48"]),
        ("img2img", ["--image", "photo.jpg", "--strength", "0.5"]),
        ("inpaint", ["--image", "photo.jpg", "--mask", "mask.png"]),
        ("inpaint", ["--image", "holed.png"]),
        ("controlnet", ["--image", "photo.jpg", "--low-threshold", "50"]),
        ("t2i-adapter", ["--image", "photo.jpg"]),
    ],
)
def test_each_image_mode_writes_pngs_with_parameters(inputs, tmp_path, mode, extra):
    out = tmp_path / "out"
    done = lcm_bot(
        "generate",
        "a yellow box",
        "--mode",
        mode,
        "--model",
        "tiny",
        "--seed",
        "42",
        "--out",
        str(out),
        *extra,
        cwd=inputs,
    )
    assert done.returncode == 0, done.stderr
    paths = [Path(line) for line in done.stdout.splitlines()]
    pngs = [p for p in paths if not p.name.endswith("-edges.png")]
    expected = 2 if "--count" in extra else 1
    assert [p.name for p in pngs] == [f"{mode}-{42 + i}.png" for i in range(expected)]
    for index, path in enumerate(pngs):
        with Image.open(path) as image:
            assert image.format == "PNG"
            # Uploads are fitted into the family default (64 for tiny), keeping the aspect.
            assert image.size == ((64, 48) if mode == "txt2img" else (64, 40))
        params = read_png_parameters(path.read_bytes())
        assert params["seed"] == 42 + index and params["mode"] == mode
        assert params["model"] == "tiny" and params["prompt"] == "a yellow box"
    edges = [p for p in paths if p.name.endswith("-edges.png")]
    assert len(edges) == (1 if mode in ("controlnet", "t2i-adapter") else 0)


def test_animate_writes_a_multi_frame_gif(inputs, tmp_path):
    done = lcm_bot(
        "generate",
        "waves",
        "--mode",
        "animate",
        "--model",
        "tiny",
        "--frames",
        "8",
        "--motion",
        "zoom-in",
        "--seed",
        "7",
        "--out",
        str(tmp_path),
        cwd=inputs,
    )
    assert done.returncode == 0, done.stderr
    (path,) = [Path(line) for line in done.stdout.splitlines()]
    assert path.name == "animate-7.gif"
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 8 and gif.size == (64, 64)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--mode", "img2img", "--image", "photo.jpg", "--strength", "0.1"],
            "error: strength: steps × strength = 4 × 0.1 runs no denoising step",
        ),
        (["--steps", "20"], "error: steps: 20 is out of range (allowed: 1–8)"),
        (["--size", "big"], "error: size:"),
        (["--mode", "inpaint", "--image", "photo.jpg"], "error: mask: inpaint needs a mask"),
        (["--mode", "img2img", "--image", "absent.png"], "error: image: cannot read absent.png"),
        (["--mode", "img2img", "--image", "mask.png", "--style", "ink"], "error: style: unknown"),
        (["--model", "sd3"], "error: unknown model family 'sd3'"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(inputs, tmp_path, args, message):
    done = lcm_bot("generate", "x", "--model", "tiny", "--out", str(tmp_path), *args, cwd=inputs)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not list(tmp_path.iterdir()), "nothing is written for a refused job"


def test_a_hostile_upload_is_refused_cleanly(inputs, tmp_path):
    (inputs / "fake.png").write_bytes(b"%PDF-1.4 not an image")
    done = lcm_bot(
        "generate",
        "x",
        "--mode",
        "img2img",
        "--image",
        "fake.png",
        "--model",
        "tiny",
        "--out",
        str(tmp_path),
        cwd=inputs,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: image:")
    assert "PNG, JPEG, WebP or GIF" in done.stderr
