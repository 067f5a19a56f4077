"""`lcm-bot generate` end to end: the installed console script, the tiny family, real files out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from generation.images.encode import read_png_parameters
from tests.bot.cli_env import clean_env

LCM_BOT = Path(sys.executable).with_name("lcm-bot")


def lcm_bot(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LCM_BOT), *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
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
    # Upscale and outpaint grow the picture itself: small ones keep the runs to seconds.
    image.resize((64, 48)).save(folder / "small.png")
    image.resize((32, 24)).save(folder / "little.png")
    Image.new("RGB", (1040, 48), (90, 120, 200)).save(folder / "wide.png")  # ×4 is over 4096
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
    assert_refused(done, message)
    assert not list(tmp_path.iterdir()), "nothing is written for a refused job"


def assert_refused(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("source", "extra", "size", "own"),
    [
        # --upscale-kind left out is subtle (the upscaler alone): 64×48 → 256×192.
        ("small.png", ["--scale", "4"], (256, 192), dict(scale=4, upscale_kind="subtle")),
        # --scale left out is 2; creative adds the tiled img2img pass (one 64² tile here).
        (
            "little.png",
            ["--upscale-kind", "creative"],
            (64, 48),
            dict(scale=2, upscale_kind="creative"),
        ),
    ],
)
def test_upscale_writes_the_picture_enlarged_with_its_parameters(
    inputs, tmp_path, source, extra, size, own
):
    path = _grow(inputs, tmp_path, "upscale", source, extra)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size
    params = read_png_parameters(path.read_bytes())
    assert params == {
        "prompt": "more of it",
        "mode": "upscale",
        "model": "tiny",
        "size": "{}x{}".format(*size),
        "steps": 8,  # the upscale recipe: 8 steps at 0.3 run the last 2
        "guidance": 1.0,
        "seed": 5,
        "strength": 0.3,
        **own,
    }


@pytest.mark.parametrize(
    ("extra", "size", "outpaint"),
    [
        ([], (128, 96), "zoom-2"),  # left out, --outpaint is zoom-2: both sides twice 64×48
        (["--outpaint", "pan-left"], (96, 48), "pan-left"),  # the width 1.5×, the height kept
    ],
)
def test_outpaint_writes_the_larger_canvas_with_its_parameters(
    inputs, tmp_path, extra, size, outpaint
):
    path = _grow(inputs, tmp_path, "outpaint", "small.png", extra)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size
    params = read_png_parameters(path.read_bytes())
    assert params["mode"] == "outpaint" and params["outpaint"] == outpaint
    assert params["size"] == "{}x{}".format(*size) and params["seed"] == 5
    assert params["model"] == "tiny" and params["prompt"] == "more of it"


def _grow(inputs: Path, tmp_path: Path, mode: str, source: str, extra: list[str]) -> Path:
    """Run one upscale or outpaint job on ``source``; the one PNG it wrote."""
    args = ["--mode", mode, "--image", source, "--model", "tiny", "--seed", "5", *extra]
    done = lcm_bot("generate", "more of it", *args, "--out", str(tmp_path), cwd=inputs)
    assert done.returncode == 0, done.stderr
    (path,) = [Path(line) for line in done.stdout.splitlines()]
    assert path.name == f"{mode}-5.png"
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "upscale"], "error: image: upscale needs a picture (allowed: a PNG,"),
        (["--mode", "outpaint"], "error: image: zoom out and pan need a picture (allowed: a PNG,"),
        (
            ["--mode", "upscale", "--image", "wide.png", "--scale", "4"],
            "error: size: the picture 1040x48 ×4 would be 4160x192 (allowed: a result up to "
            "4096 a side, so a picture up to 1024 a side at ×4)",
        ),
        (
            ["--mode", "outpaint", "--image", "small.png", "--scale", "4"],
            "error: scale: --scale does not apply to --mode outpaint (allowed: only with "
            "--mode upscale)",
        ),
        (
            ["--image", "small.png", "--upscale-kind", "creative"],
            "error: upscale_kind: --upscale-kind does not apply to --mode txt2img (allowed: "
            "only with --mode upscale)",
        ),
        (
            ["--mode", "upscale", "--image", "small.png", "--outpaint", "pan-up"],
            "error: outpaint: --outpaint does not apply to --mode upscale (allowed: only with "
            "--mode outpaint)",
        ),
        (
            ["--mode", "outpaint", "--image", "small.png", "--size", "64x64"],
            "error: size: --mode outpaint sizes its result from the picture (allowed: no --size "
            "with --mode outpaint)",
        ),
    ],
)
def test_bad_upscale_or_outpaint_input_is_one_line_naming_what_is_allowed(
    inputs, tmp_path, args, message
):
    # sd15, as in test_cli_refusal.py: refusing needs none of its files, and no torch import
    # (the tiny family is built with torch: seconds a refusal need not spend).
    env = clean_env(tmp_path / "home", HF_HUB_OFFLINE="1")
    out = tmp_path / "out"
    done = lcm_bot(
        "generate", "x", "--model", "sd15", "--out", str(out), *args, cwd=inputs, env=env
    )
    assert_refused(done, message)
    assert not out.exists(), "nothing is written for a refused job"


@pytest.mark.parametrize(
    ("args", "allowed"),
    [(["--scale", "3"], "3 (choose from 2, 4)"), (["--outpaint", "zoom-3"], "pan-down")],
)
def test_an_unoffered_scale_or_outpaint_is_refused_with_the_choices(
    inputs, tmp_path, args, allowed
):
    done = lcm_bot("generate", "x", "--mode", "upscale", "--out", str(tmp_path), *args, cwd=inputs)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert f"argument {args[0]}: invalid choice:" in last and allowed in last, done.stderr


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
