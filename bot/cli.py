"""The `lcm-bot` command line: run, doctor, health, generate, bench, db and --version."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings

MODES = (
    "txt2img",
    "img2img",
    "inpaint",
    "controlnet",
    "t2i-adapter",
    "animate",
    "upscale",
    "outpaint",
)
# The options only one mode reads (generation.modes declares them as that mode's fields), and
# what the CLI uses where they are left out.
MODE_OPTION_DEFAULTS = {"scale": 2, "upscale_kind": "subtle", "outpaint": "zoom-2"}
# Commands parsed without `db`'s subcommands, which import alembic: a third of a second that
# `generate` would otherwise spend before refusing a typo.
NOT_DB = ("run", "doctor", "health", "generate", "bench")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The command line, without `db` when `argv` (what will be parsed) names another command."""
    parser = argparse.ArgumentParser(
        prog="lcm-bot",
        description="A self-hosted Discord bot for Latent Consistency Model images.",
    )
    parser.add_argument("--version", action="version", version=f"lcm-bot {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="start the Discord bot (reads settings from the environment)")
    commands.add_parser(
        "doctor",
        help="check the settings, token, database, device, model files, GPU memory and styles",
        description="Check the setup item by item and say in plain words what is wrong; "
        "exits with status 1 if anything is.",
    )
    health = commands.add_parser(
        "health",
        help="ask a running bot's /healthz (exit 0 if healthy); Docker's HEALTHCHECK uses it",
    )
    health.add_argument("--url", help="the /healthz URL (default: from LCM_HTTP_HOST/PORT)")
    health.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default 5)")
    _add_generate(commands)
    _add_bench(commands)
    if not argv or argv[0] not in NOT_DB:
        from storage.cli import register_db_commands

        register_db_commands(commands, default_url=lambda: load_settings().database_url)
    return parser


def installed_version() -> str:
    """The version of the installed lcm-bot distribution, as pip and `pip show` know it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lcm-bot")
    except PackageNotFoundError:
        # Run from a source tree that was never installed: there is no version to tell.
        return "(not installed: run `pip install -e .` for a version)"


def _add_generate(commands) -> None:
    from generation.images.outpaint_geometry import OUTPAINTS
    from generation.modes.upscale_rules import KINDS, SCALES

    gen = commands.add_parser(
        "generate",
        help="run one job locally and write the result files",
        description="Run one job through the generation core and write PNG/GIF files.",
    )
    gen.add_argument("prompt", help="what to draw")
    gen.add_argument("--mode", choices=MODES, default="txt2img", help="what kind of job")
    gen.add_argument(
        "--image",
        type=Path,
        help="input image (img2img, inpaint, canny, upscale and outpaint modes)",
    )
    gen.add_argument(
        "--mask",
        type=Path,
        help="inpaint mask, white = repaint (default: the image's transparency)",
    )
    gen.add_argument(
        "--style",
        action="append",
        default=[],
        metavar="NAME[:WEIGHT]",
        help="a style from the styles file, optionally with a weight; repeatable",
    )
    gen.add_argument("--negative", default="", help="negative prompt (needs guidance above 1)")
    gen.add_argument("--steps", type=int, help="denoising steps, 1–8 (default: the mode's recipe)")
    gen.add_argument("--size", help="WIDTHxHEIGHT, multiples of 8 (16 for SDXL T2I-Adapter)")
    gen.add_argument("--guidance", type=float, help="guidance scale (default: the mode's recipe)")
    gen.add_argument(
        "--strength", type=float, help="img2img/inpaint strength 0–1 (default: recipe)"
    )
    gen.add_argument("--seed", type=int, help="seed 0–4294967295 (default: random)")
    gen.add_argument("--count", type=int, default=1, help="images to make, 1–8")
    gen.add_argument("--frames", type=int, help="animation frames, 8–24 (default: the recipe's 16)")
    gen.add_argument("--fps", type=int, default=8, help="animation frames per second, 1–30")
    gen.add_argument("--motion", help="motion LoRA for animate, e.g. zoom-in")
    gen.add_argument("--low-threshold", type=int, default=100, help="canny low threshold 0–255")
    gen.add_argument("--high-threshold", type=int, default=200, help="canny high threshold 0–255")
    gen.add_argument(
        "--conditioning-scale", type=float, help="ControlNet/T2I strength 0–2 (default: recipe)"
    )
    # No argparse defaults: an option left out can be told from one given for the wrong mode.
    gen.add_argument(
        "--scale", type=int, choices=SCALES, help="upscale: enlarge 2 or 4 times (default 2)"
    )
    gen.add_argument(
        "--upscale-kind",
        choices=KINDS,
        help="upscale: subtle (the upscaler alone) or creative (adds a tiled img2img detail "
        "pass; --steps and --strength tune it) (default subtle)",
    )
    gen.add_argument(
        "--outpaint",
        choices=tuple(OUTPAINTS),
        help="outpaint: zoom out (each side 1.5 or 2 times as long) or pan (one side 1.5 "
        "times as long), the new area drawn from the prompt (default zoom-2)",
    )
    gen.add_argument("--model", help="model family (default: LCM_MODEL or sd15)")
    gen.add_argument("--styles-file", type=Path, help="style allow-list (default: LCM_STYLES_FILE)")
    gen.add_argument("--device", help="auto, cuda, cuda:N, mps or cpu (default: LCM_DEVICE)")
    gen.add_argument("--dtype", help="auto, float16, bfloat16, float32 (default: LCM_DTYPE)")
    gen.add_argument("--safety-check", action="store_true", help="report NSFW flags per image")
    gen.add_argument(
        "--quality",
        choices=("full", "fast"),
        default="full",
        help="full VAE decode, or fast (TAESD: cheaper, slightly softer)",
    )
    gen.add_argument(
        "--animation-format", choices=("gif", "webp"), default="gif", help="animation file type"
    )
    gen.add_argument("--out", type=Path, required=True, help="folder for the result files")


def _add_bench(commands) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure the engine against one pipe() call per request",
        description="Serve one burst of txt2img requests twice: the way diffusers' LCM guide "
        "does (one pipe() call per request, in arrival order) and through the engine.",
    )
    bench.add_argument("--model", default="tiny", help="model family (default: tiny)")
    bench.add_argument(
        "--random-weights",
        action="store_true",
        help="build the full-size architecture (sd15 or sdxl) with random weights: no download",
    )
    bench.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    bench.add_argument("--dtype", default="auto", help="auto, float16, bfloat16 or float32")
    bench.add_argument("--users", type=int, default=16, help="distinct users in the burst")
    bench.add_argument("--jobs-per-user", type=int, default=4, help="requests per user")
    bench.add_argument("--size", type=int, help="square image side (default: the family's)")
    bench.add_argument("--steps", type=int, default=4, help="denoising steps per image")
    bench.add_argument(
        "--batch-images", type=int, default=16, help="most images the engine runs in one call"
    )
    bench.add_argument(
        "--quality", choices=("full", "fast"), default="full", help="full VAE or TAESD decode"
    )
    bench.add_argument(
        "--compile", metavar="MODE", help="torch.compile the UNet (e.g. max-autotune), warmed first"
    )
    bench.add_argument(
        "--worker",
        choices=("thread", "process"),
        default="thread",
        help="run the engine's models in the bot's process or in a worker process (as `run` does)",
    )
    bench.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="instead: the burst through 1 worker process and through N, side by side "
        "(N devices, or N CPU workers sharing the cores)",
    )
    bench.add_argument(
        "--rounds", type=int, default=3, help="with --workers: timed bursts per worker count"
    )
    bench.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="with --workers: the workers as Ray actors on this cluster (host:port), or `local` "
        "for a two-node cluster on 127.0.0.1 started for the run; adds Ray's overhead per job",
    )
    bench.add_argument("--json", type=Path, help="also write the result as JSON here")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    if args.command == "run":
        return _run()  # configures logging from the settings itself
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return run_doctor()
    if args.command == "bench":
        return _bench(args)
    try:
        # Every other command reads the settings: a bad one is named before any work starts.
        settings = None if args.command == "db" and args.database_url else load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "health":
        return _health(args, settings)
    if args.command == "db":
        return args.func(args)
    settings.export_environment()
    return _generate(args, settings)


def _health(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import urllib.error
    import urllib.request

    url = args.url
    if url is None:
        if not settings.lcm_http_port:
            print("error: the health endpoint is off (LCM_HTTP_PORT=0)", file=sys.stderr)
            return 1
        host = settings.lcm_http_host
        host = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host
        host = f"[{host}]" if ":" in host else host
        url = f"http://{host}:{settings.lcm_http_port}/healthz"
    try:
        # No proxy: the endpoint is local, and a proxy from the environment would not reach it.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=args.timeout) as response:
            report = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            problems = json.load(exc).get("problems") or [f"HTTP {exc.code}"]
        except ValueError:
            problems = [f"HTTP {exc.code}"]
        print(f"unhealthy: {'; '.join(problems)}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(
            f"unhealthy: no answer from {url} ({reason}); is the bot running? It starts "
            "answering once the models are loaded.",
            file=sys.stderr,
        )
        return 1
    engine = report.get("engine", {})
    print(
        f"healthy: Discord connected, engine {engine.get('state')}, "
        f"{engine.get('queue_depth')} job(s) waiting"
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from generation.models.library_logs import quiet_model_libraries

    quiet_model_libraries()  # before the model libraries are first imported
    from generation.bench import BenchOptions, run_bench, write_json
    from generation.errors import GenerationError

    options = BenchOptions(
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        users=args.users,
        jobs_per_user=args.jobs_per_user,
        size=args.size,
        steps=args.steps,
        batch_images=args.batch_images,
        random_weights=args.random_weights,
        quality=args.quality,
        compile_mode=args.compile,
        worker=args.worker,
    )
    try:
        if args.workers:
            from generation import bench_workers

            report = asyncio.run(
                bench_workers.run_workers_bench(
                    options, args.workers, rounds=args.rounds, ray_address=args.ray or ""
                )
            )
            write_json = bench_workers.write_json
        else:
            report = asyncio.run(run_bench(options))
    except (GenerationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        write_json(report, args.json)
    print("\n".join(report.lines()))
    return 0


def _run() -> int:
    from bot.run import run

    return run()


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from generation.errors import GenerationError

    try:
        paths, warnings = _generate_files(args, settings)
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for path in paths:
        print(path)
    return 0


def _read_upload(path: Path | None, parameter: str) -> bytes | None:
    from generation.errors import InvalidInput

    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(parameter, f"cannot read {path}: {exc.strerror}") from exc


async def _run_one(request, family, styles, device, dtype):
    """One job through the same engine the bot uses, with step progress on a terminal."""
    from generation.engine import Engine
    from generation.engine.events import JobProgress, JobSpec
    from generation.modes.pipelines import PipelineSet

    def load() -> PipelineSet:
        return PipelineSet(family, device=device, dtype=dtype, styles=styles)

    async with Engine(load, family=family, styles=styles) as engine:
        handle = engine.submit(JobSpec("local", user_id=0, guild_id=None, request=request))
        async for event in handle:
            if isinstance(event, JobProgress) and sys.stderr.isatty():
                print(f"\rstep {event.step}/{event.total}", end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        return await handle.result()


def _generate_files(
    args: argparse.Namespace, settings: Settings
) -> tuple[list[Path], tuple[str, ...]]:
    family, styles, request = _checked_request(args, settings)
    device_name, dtype_name = _checked_device(args, settings)
    # Only an accepted job pays for torch and diffusers (seconds): a refusal never imports them.
    from generation.models.library_logs import quiet_model_libraries

    quiet_model_libraries()  # before the model libraries are first imported
    from generation.models.devices import resolve_device, resolve_dtype
    from generation.modes.outputs import write_result_files

    device = resolve_device(device_name)
    dtype = resolve_dtype(dtype_name, device)
    result = asyncio.run(_run_one(request, family, styles, device, dtype))
    paths = write_result_files(result, args.out, animation_format=args.animation_format)
    return paths, result.warnings


def _checked_request(args: argparse.Namespace, settings: Settings):
    """(family, styles, request): every argument checked and every upload decoded, without torch.

    Nothing imported here may import torch or diffusers; tests/bot/test_cli_refusal.py checks it.
    """
    from generation.errors import InvalidInput
    from generation.images.image_decode import alpha_mask, decode_image, decode_mask
    from generation.images.sizing import parse_size
    from generation.models.families import TINY_FAMILIES, resolve_family
    from generation.models.styles import StyleChoice, StyleLibrary, parse_style_option
    from generation.modes import Mode
    from generation.modes.requests import GenerationRequest, validate_request

    mode = Mode(args.mode)
    mode_options = _mode_options(args, mode)
    if args.size and mode.spec.grows_picture:
        raise InvalidInput(
            "size",
            f"--mode {mode} sizes its result from the picture",
            f"no --size with --mode {mode}",
        )
    width, height = parse_size(args.size) if args.size else (None, None)
    picked = tuple(StyleChoice(*parse_style_option(text)) for text in args.style)
    image_bytes = _read_upload(args.image, "image")
    mask_bytes = _read_upload(args.mask, "mask")
    image = decode_image(image_bytes) if image_bytes is not None else None
    if mask_bytes is not None:
        mask = decode_mask(mask_bytes)
    elif image_bytes is not None and args.mode == Mode.INPAINT:
        mask = alpha_mask(image_bytes)
    else:
        mask = None
    # A tiny family is built on first use (with torch), so the family comes after the uploads.
    name = args.model or settings.lcm_model
    if name in TINY_FAMILIES:
        from generation.models.library_logs import quiet_model_libraries

        quiet_model_libraries()  # a first build loads diffusers: quiet it first, as for a job
    family = resolve_family(name, settings.model_overrides())
    styles_file = args.styles_file or settings.lcm_styles_file
    styles = StyleLibrary.load(styles_file) if styles_file else StyleLibrary()

    request = GenerationRequest(
        mode=mode,
        prompt=args.prompt,
        negative_prompt=args.negative,
        width=width,
        height=height,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        count=args.count,
        strength=args.strength,
        image=image,
        mask=mask,
        canny_low=args.low_threshold,
        canny_high=args.high_threshold,
        conditioning_scale=args.conditioning_scale,
        styles=picked,
        frames=args.frames,
        fps=args.fps,
        motion=args.motion,
        safety_check=args.safety_check,
        quality=args.quality,
        **mode_options,
    )
    return family, styles, validate_request(request, family, styles)


def _mode_options(args: argparse.Namespace, mode) -> dict:
    """The options of ``mode`` alone (its defaults where left out); another mode's are refused."""
    from generation.errors import InvalidInput
    from generation.modes import Mode

    options = {}
    for name, default in MODE_OPTION_DEFAULTS.items():
        value = getattr(args, name)
        if name in mode.spec.fields:
            options[name] = default if value is None else value
        elif value is not None:
            flag = "--" + name.replace("_", "-")
            owner = next(m for m in Mode if name in m.spec.fields)
            raise InvalidInput(
                name, f"{flag} does not apply to --mode {mode}", f"only with --mode {owner}"
            )
    return options


def _checked_device(args: argparse.Namespace, settings: Settings) -> tuple[str, str]:
    """The --device and --dtype names, checked the way the settings check them (no torch)."""
    from bot.settings import DEVICE_PATTERN, DEVICES_ALLOWED, DTYPES
    from generation.errors import InvalidInput

    device = (args.device or settings.lcm_device).strip().lower()
    dtype = (args.dtype or settings.lcm_dtype).strip().lower()
    if not DEVICE_PATTERN.match(device):
        raise InvalidInput("device", f"unknown device {device!r}", DEVICES_ALLOWED)
    if dtype not in DTYPES:
        raise InvalidInput("dtype", f"unknown dtype {dtype!r}", ", ".join(DTYPES))
    return device, dtype
