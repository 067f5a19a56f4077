"""`lcm-bot doctor`: check the setup item by item and say in plain words what is wrong."""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.run import MISSING_TOKEN
from bot.settings import Settings, SettingsError, load_settings
from generation.models.gpus import GpuInfo
from generation.models.safetensors_mirror import PICKLE_WEIGHTS_NAME

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "--"
GB = 1e9

# Which settings each item stands on; a broken one fails the item (or skips it, if not its own).
ITEM_SETTINGS = {
    "token": ("DISCORD_TOKEN",),
    "commands": ("DISCORD_GUILD_IDS", "DISCORD_GLOBAL_SYNC"),
    "database": ("DATABASE_URL",),
    "device": ("LCM_DEVICE", "LCM_DTYPE"),
    "model files": ("LCM_MODEL",),
    "GPU memory": ("LCM_MODEL", "LCM_DEVICE", "LCM_DTYPE", "LCM_BATCH_IMAGES"),
    "styles": ("LCM_STYLES_FILE", "LCM_MODEL"),
    "http": ("LCM_HTTP_HOST", "LCM_HTTP_PORT"),
}
# The settings whose problems an item reports itself; the "settings" line reports the rest.
OWN = {
    "token": ("DISCORD_TOKEN",),
    "commands": ("DISCORD_GUILD_IDS", "DISCORD_GLOBAL_SYNC"),
    "database": ("DATABASE_URL",),
    "device": ("LCM_DEVICE", "LCM_DTYPE"),
    "model files": ("LCM_MODEL",),
    "styles": ("LCM_STYLES_FILE",),
    "http": ("LCM_HTTP_HOST", "LCM_HTTP_PORT"),
}


@dataclass(frozen=True)
class Memory:
    """Approximate GPU memory of one family in float16, in GB (10⁹ bytes).

    The basis: parameter counts of the real models (SD1.5 UNet 860 M, VAE 84 M, CLIP-L 123 M; SDXL
    UNet 2.6 G, its second text encoder 695 M; SSD-1B UNet 1.3 G; ControlNet 361 M / 1.25 G,
    T2I-Adapter 77 M, AnimateDiff motion modules 453 M plus its own UNet copy, safety checker
    304 M) at 2 bytes each, plus the working memory of one image at the family's default size
    (UNet activations and a full VAE decode, which the whole batch does at once). Estimates, not
    measurements: keep a margin.
    """

    start: float  # base model + LCM-LoRA, loaded at start
    companions: float  # inpainting UNet, ControlNet, T2I-Adapter, AnimateDiff, safety checker
    per_image: float  # working memory per image of a batch at the default size

    def minimum(self) -> float:
        """To start and serve one text-to-image job at a time."""
        return self.start + self.per_image

    def full(self, batch_images: int) -> float:
        """Every mode loaded, batches of `batch_images` images."""
        return self.start + self.companions + self.per_image * batch_images


MEMORY = {
    "sd15": Memory(start=2.3, companions=6.3, per_image=0.8),
    "dreamshaper-lcm": Memory(start=2.2, companions=4.4, per_image=0.8),
    "sdxl": Memory(start=7.3, companions=3.3, per_image=2.5),
    "ssd-1b": Memory(start=4.6, companions=0.6, per_image=2.5),
    # The distilled UNet replaces the base's: the same sizes as the LCM-LoRA families, no LoRA.
    "lcm-sdxl": Memory(start=7.3, companions=3.3, per_image=2.5),
    "lcm-ssd-1b": Memory(start=4.6, companions=0.0, per_image=2.5),
    "tiny": Memory(start=0.01, companions=0.01, per_image=0.01),
    "tiny-xl": Memory(start=0.01, companions=0.01, per_image=0.01),
}

# Approximate download sizes (GB) of what each component fetches from the hub (safetensors as the
# repositories serve them, mostly float32). Used only to tell the operator what to expect.
DOWNLOAD_GB = {
    "stable-diffusion-v1-5/stable-diffusion-v1-5": 4.3,
    "stable-diffusion-v1-5/stable-diffusion-inpainting": 3.4,
    "stabilityai/stable-diffusion-xl-base-1.0": 13.9,
    "segmind/SSD-1B": 8.9,
    "SimianLuo/LCM_Dreamshaper_v7": 4.3,
    "latent-consistency/lcm-lora-sdv1-5": 0.14,
    "latent-consistency/lcm-lora-sdxl": 0.39,
    "latent-consistency/lcm-lora-ssd-1b": 0.21,
    "lllyasviel/control_v11p_sd15_canny": 1.45,
    "diffusers/controlnet-canny-sdxl-1.0": 5.0,
    "TencentARC/t2iadapter_canny_sd15v2": 0.31,
    "TencentARC/t2i-adapter-canny-sdxl-1.0": 0.32,
    "guoyww/animatediff-motion-adapter-v1-5-2": 1.8,
    "CompVis/stable-diffusion-safety-checker": 1.2,
    "madebyollin/taesd": 0.01,
    "madebyollin/taesdxl": 0.01,
    "latent-consistency/lcm-sdxl": 10.3,
    "latent-consistency/lcm-ssd-1b": 5.3,
    # The x2plus and x4plus files, 67 MB each (the repository's anime file is never fetched).
    "Comfy-Org/Real-ESRGAN_repackaged": 0.13,
}
MOTION_LORA_GB = 0.08

TOKEN_PART = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Check:
    item: str
    status: str
    detail: str


def run_doctor(out: IO[str] | None = None) -> int:
    """Print every check; return 1 if any failed, else 0.

    Items: the settings, the token's format, where slash commands are synced, the database, the
    device and dtype, the model files (asking the hub about missing ones), GPU memory against
    what the model family needs, the styles file and each style's source, and the HTTP port.
    Each prints one line: `ok`, `warn` (works, but read this), `FAIL` (the bot will not start or
    will not work), or `--` (not checked because a setting it needs is broken). Nothing here
    changes anything: no database file is created, no model is built or downloaded.
    """
    out = out or sys.stdout
    checks = list(doctor_checks())
    width = max(len(c.item) for c in checks)
    print("lcm-bot doctor: the settings come from the environment and .env", file=out)
    for check in checks:
        print(f"  {check.status:<4}  {check.item:<{width}}  {check.detail}", file=out)
    failed = [c for c in checks if c.status == FAIL]
    warned = [c for c in checks if c.status == WARN]
    if failed:
        print(
            f"{len(failed)} problem(s): fix the FAIL lines and run `lcm-bot doctor` again.",
            file=out,
        )
        return 1
    print(
        f"No problems: the bot should start; read the {len(warned)} warning(s) above."
        if warned
        else "Everything is in place: the bot should start.",
        file=out,
    )
    return 0


def doctor_checks() -> Iterable[Check]:
    settings, problems = _settings_leniently()
    broken = {name for name, _ in problems}
    owned = {name for names in OWN.values() for name in names}
    loose = [(n, m) for n, m in problems if n not in owned]
    if loose:
        yield Check("settings", FAIL, "; ".join(f"{n}: {m}" for n, m in loose))
    elif problems:
        yield Check("settings", OK, "the other settings are valid")
    else:
        yield Check("settings", OK, "every setting is valid")
    # The environment variables that reach huggingface_hub and the tiny builder come from .env too.
    settings.export_environment()

    def guarded(item: str, check: Callable[[], Check]) -> Check:
        mine = [(n, m) for n, m in problems if n in OWN.get(item, ())]
        if mine:
            return Check(item, FAIL, "; ".join(f"{n}: {m}" for n, m in mine))
        needed = [n for n in ITEM_SETTINGS[item] if n in broken]
        if needed:
            return Check(item, SKIP, f"not checked: {', '.join(needed)} is not valid (see above)")
        try:
            return check()
        except Exception as exc:  # a check that breaks is a finding, not a crash
            return Check(item, FAIL, f"could not be checked: {type(exc).__name__}: {exc}")

    yield guarded("token", lambda: check_token(settings.discord_token.get_secret_value()))
    yield guarded("commands", lambda: check_commands(settings))
    yield guarded("database", lambda: check_database(settings.database_url))
    found: dict[str, Any] = {}

    def device_check() -> Check:
        check, found["device"], found["dtype"], found["gpus"] = check_device(
            settings.lcm_device, settings.lcm_dtype, settings.lcm_model
        )
        return check

    yield guarded("device", device_check)
    yield guarded(
        "model files",
        lambda: check_model_files(settings.lcm_model, settings.model_overrides()),
    )
    yield guarded(
        "GPU memory",
        lambda: check_memory(
            settings, found.get("device"), found.get("dtype"), found.get("gpus", ())
        ),
    )
    yield guarded("styles", lambda: check_styles(settings.lcm_styles_file, settings.lcm_model))
    yield guarded("http", lambda: check_http(settings.lcm_http_host, settings.lcm_http_port))


def _settings_leniently() -> tuple[Settings, list[tuple[str, str]]]:
    """The settings, with every invalid one replaced by its default, and the problems found."""
    try:
        return load_settings(), []
    except SettingsError as exc:
        problems = exc.problems
    fields = Settings.model_fields
    defaults = {
        name.lower(): fields[name.lower()].default for name, _ in problems if name.lower() in fields
    }
    return load_settings(**defaults), problems


# ---------------------------------------------------------------------- the token


def check_token(token: str) -> Check:
    """The format only (three dot-separated base64url parts); only Discord knows if it is valid.

    Never prints the token, nor any part of it but the bot's user id encoded in its first part.
    """
    if not token:
        return Check("token", FAIL, MISSING_TOKEN)
    fix = (
        "Copy it again: https://discord.com/developers/applications → your application → Bot "
        "→ Reset Token."
    )
    if token != token.strip():
        return Check("token", FAIL, f"DISCORD_TOKEN has spaces or a line break around it. {fix}")
    if token.lower().startswith("bot "):
        return Check("token", FAIL, 'DISCORD_TOKEN starts with "Bot ": set only the token itself.')
    parts = token.split(".")
    if len(parts) != 3 or not all(TOKEN_PART.match(part) for part in parts):
        hint = ""
        if token.isdigit():
            hint = " It is all digits: that is an application or user id, not the token."
        elif len(parts) == 1 and len(token) == 32:
            hint = " It looks like the OAuth2 client secret, not the bot token."
        return Check(
            "token",
            FAIL,
            "DISCORD_TOKEN does not have the format of a bot token: three parts of letters, "
            f"digits, '-' and '_' joined by dots (this one has {len(parts)} part(s) and "
            f"{len(token)} characters).{hint} {fix}",
        )
    user_id = _token_user_id(parts[0])
    if user_id is None:
        return Check(
            "token",
            WARN,
            "DISCORD_TOKEN has three parts, but its first part is not a base64-encoded user id "
            f"as in bot tokens; if Discord refuses it at login: {fix}",
        )
    return Check(
        "token",
        OK,
        f"DISCORD_TOKEN has the format of a bot token (bot user id {user_id}); Discord itself "
        "checks it when the bot logs in",
    )


def _token_user_id(first_part: str) -> int | None:
    try:
        decoded = base64.urlsafe_b64decode(first_part + "=" * (-len(first_part) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(decoded) if decoded.isdigit() and 15 <= len(decoded) <= 21 else None


# ---------------------------------------------------------------------- slash commands


def check_commands(settings: Settings) -> Check:
    """Where the bot syncs its slash commands at start: the same plan `run` follows."""
    from bot.command_sync import plan_sync

    plan = plan_sync(settings)
    where = plan.describe().removeprefix("slash commands: ")
    # A global sync works, but an operator who does not know may wait an hour for nothing.
    return Check("commands", OK if plan.guild_ids else WARN, where)


# ---------------------------------------------------------------------- the database


def check_database(url: str) -> Check:
    from storage import migrate
    from storage.engine import database_url, sqlite_path

    shown = database_url(url).render_as_string(hide_password=True)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        parent = _existing_ancestor(path.parent)
        problem = _cannot_write(parent)
        if problem:
            return Check("database", FAIL, f"cannot create the database {path}: {problem}")
        return Check(
            "database",
            OK,
            f"no database file yet at {path}: the bot creates and migrates it at start "
            "(or now: `lcm-bot db upgrade`)",
        )
    try:
        current = _current_revision(url)
    except Exception as exc:
        from storage.cli import explain

        return Check("database", FAIL, explain(exc, url))
    head = migrate.head_revision()
    if current == head:
        return Check("database", OK, f"{shown} is reachable and migrated (revision {head})")
    upgrade = "the bot migrates it at start, or run `lcm-bot db upgrade` now"
    if current is None:
        return Check("database", WARN, f"{shown} is reachable but not migrated yet: {upgrade}")
    if current not in _known_revisions():
        return Check(
            "database",
            FAIL,
            f"{shown} is at revision {current}, which this version of lcm-bot does not know "
            f"(newest here: {head}); a newer lcm-bot migrated it: update lcm-bot, or restore a "
            "backup made with this version",
        )
    return Check(
        "database", WARN, f"{shown} is at revision {current}, the newest is {head}: {upgrade}"
    )


def _current_revision(url: str) -> str | None:
    import asyncio

    from alembic.runtime.migration import MigrationContext

    from storage.engine import database_url, engine_for

    options: dict[str, Any] = {}
    if database_url(url).get_backend_name() == "postgresql":
        options["connect_args"] = {"timeout": 10}  # asyncpg's default is a minute

    async def read() -> str | None:
        engine = engine_for(url, **options)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(asyncio.wait_for(read(), 20))


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    return {script.revision for script in scripts.walk_revisions()}


def _cannot_write(folder: Path) -> str | None:
    """Why no file can be created in `folder` (tried for real, then removed); None if one can."""
    import tempfile

    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return f"{folder} is not writable ({exc.strerror or exc})"


def _existing_ancestor(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# ---------------------------------------------------------------------- device and dtype


def check_device(device_name: str, dtype_name: str, family: str):
    """(check, device, dtype name, GPUs); the device comes from generation.models.devices,
    as at start.

    The GPUs are asked of torch only when the device is CUDA, so a CPU machine pays nothing more.
    """
    from generation.errors import InvalidInput
    from generation.models.devices import resolve_device, resolve_dtype
    from generation.models.gpus import visible_gpus

    build = _torch_build()
    try:
        device = resolve_device(device_name)
    except InvalidInput as exc:
        hint = (
            " torch here is a CPU-only build: install the CUDA build (see README, Quick start)."
            if build == "cpu"
            else " Check the NVIDIA driver (`nvidia-smi`); in Docker, the GPU reservation and "
            "the NVIDIA Container Toolkit."
        )
        return Check("device", FAIL, f"LCM_DEVICE={device_name}: {exc}.{hint}"), None, None, ()
    dtype = str(resolve_dtype(dtype_name, device)).removeprefix("torch.")
    if device.type == "cuda":
        gpus = visible_gpus()
        index = device.index or 0
        if index >= len(gpus):
            detail = (
                f"LCM_DEVICE={device_name}: torch sees {len(gpus)} GPU(s), numbered from 0 "
                "(after CUDA_VISIBLE_DEVICES): pick one of them"
            )
            return Check("device", FAIL, detail), None, None, gpus
        gpu = gpus[index]
        major, minor = gpu.compute_capability
        if dtype == "bfloat16" and major < 8:
            detail = f"{gpu.name} has no bfloat16 (compute capability {major}.{minor})"
            return (
                Check("device", FAIL, detail + ": set LCM_DTYPE=float16 or auto"),
                None,
                None,
                gpus,
            )
        others = f"; {len(gpus)} GPUs visible" if len(gpus) > 1 else ""
        detail = f"cuda:{index} ({gpu.name}), {dtype}; torch {_torch_version()}{others}"
        if dtype == "float32":
            detail += " (float32 needs twice the memory of float16 and runs slower)"
        return Check("device", OK, detail), device, dtype, gpus
    if device.type == "mps":
        return Check("device", OK, f"mps (Apple GPU), {dtype}"), device, dtype, ()
    why = (
        "a CPU-only build of torch"
        if build == "cpu"
        else "torch has CUDA, but no NVIDIA GPU is visible"
    )
    detail = f"cpu, {dtype}: no GPU ({why})"
    if dtype == "float16":
        slow = detail + "; float16 on a CPU is slow: use auto"
        return Check("device", WARN, slow), device, dtype, ()
    if family in ("tiny", "tiny-xl"):
        return Check("device", OK, detail + "; fine for the tiny family"), device, dtype, ()
    return (
        Check(
            "device",
            WARN,
            detail + f"; {family} on a CPU takes tens of seconds per image (SD1.5, 4 steps, "
            "512²: ≈26 s on 2 cores): fine to try, too slow to serve a server",
        ),
        device,
        dtype,
        (),
    )


def _torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "?"


def _torch_build() -> str:
    """ "cpu" for a CPU-only wheel (version tag +cpu), else "cuda" or "unknown"."""
    from importlib.metadata import PackageNotFoundError, requires

    local = _torch_version().partition("+")[2]
    if local == "cpu":
        return "cpu"
    if local.startswith(("cu", "rocm")):
        return "cuda"
    try:
        needs = " ".join(requires("torch") or [])
    except PackageNotFoundError:
        return "unknown"
    # PyPI's Linux wheels without a tag are CUDA builds that pull NVIDIA's runtime packages.
    return "cuda" if "nvidia-" in needs else "cpu"


# ---------------------------------------------------------------------- model files


@dataclass(frozen=True)
class _Component:
    label: str
    source: str
    files: tuple[str, ...]  # files that must be in the cache for it to count as present
    at_start: bool
    gb: float


def _components(family) -> list[_Component]:
    unet = "unet/diffusion_pytorch_model.safetensors"
    model = "diffusion_pytorch_model.safetensors"
    base_files = ["model_index.json", unet, "vae/" + model, "text_encoder/model.safetensors"]
    if family.architecture == "sdxl":
        base_files.append("text_encoder_2/model.safetensors")
    if family.unet is not None:
        # The distilled UNet replaces the base's, which is then not downloaded.
        base_files.remove(unet)
    # A distilled UNet has its base's architecture and size: the base's download is that less.
    base_gb = _gb(family.base) - (_gb(family.unet) if family.unet is not None else 0.0)
    parts = [_Component("base model", family.base, tuple(base_files), True, base_gb)]
    if family.unet is not None:
        parts.append(_Component("LCM UNet", family.unet, (model,), True, _gb(family.unet)))
    if family.lcm_lora is not None:
        weight = family.lcm_lora.weight_name or "pytorch_lora_weights.safetensors"
        source = family.lcm_lora.source
        parts.append(_Component("LCM-LoRA", source, (weight,), True, _gb(source)))
    inpaint_variant = family.variants.get(family.inpaint_unet)
    inpaint_unet = f"unet/diffusion_pytorch_model.{inpaint_variant}.safetensors"
    optional = [
        ("inpainting UNet", family.inpaint_unet, (inpaint_unet if inpaint_variant else unet,)),
        ("ControlNet canny", family.controlnet_canny, (model,)),
        ("T2I-Adapter canny", family.t2i_adapter_canny, (model,)),
        ("AnimateDiff motion adapter", family.motion_adapter, (model,)),
        ("safety checker", family.safety_checker, ("model.safetensors",)),
        ("TAESD fast decoder", getattr(family, "taesd", None), (model,)),
        ("upscaler", family.upscaler, tuple(family.upscaler_files.values())),
    ]
    for label, source, files in optional:
        if source in family.pickle_only:
            files = ("config.json", PICKLE_WEIGHTS_NAME)  # the hub has no safetensors of it
        if source:
            parts.append(_Component(label, source, files, False, _gb(source)))
    for name, lora in family.motion_loras.items():
        files = (lora.weight_name or "pytorch_lora_weights.safetensors",)
        parts.append(_Component(f"motion LoRA {name}", lora.source, files, False, MOTION_LORA_GB))
    return parts


def download_sizes(family) -> tuple[float, float]:
    """GB a family downloads into HF_HOME: for the first start, and with every mode used."""
    parts = _components(family)
    return sum(p.gb for p in parts if p.at_start), sum(p.gb for p in parts)


def _gb(source: str) -> float:
    return DOWNLOAD_GB.get(source, 0.0)


def check_model_files(family_name: str, overrides: dict[str, str] | None = None) -> Check:
    from generation.models.families import TINY_FAMILIES, resolve_family

    if family_name in TINY_FAMILIES:
        return _check_tiny(family_name)
    family = resolve_family(family_name, overrides)
    from huggingface_hub import constants, try_to_load_from_cache

    from generation.models.load_errors import load_failure

    cache = Path(constants.HF_HUB_CACHE)
    missing_start, missing_later = [], []
    for part in _components(family):
        if Path(part.source).expanduser().exists():
            continue  # a local folder (LCM_MODEL overrides); loaded from disk
        cached = all(
            isinstance(try_to_load_from_cache(part.source, name), str) for name in part.files
        )
        if not cached:
            (missing_start if part.at_start else missing_later).append(part)
    later_gb = sum(p.gb for p in missing_later)
    later = (
        f"; {len(missing_later)} companion(s) for other modes are downloaded on first use "
        f"(≈{later_gb:.1f} GB)"
        if missing_later
        else "; every companion is cached too"
    )
    if not missing_start:
        return Check(
            "model files", OK, f"{family_name}: the models needed at start are in {cache}{later}"
        )
    need_gb = sum(p.gb for p in missing_start)
    names = ", ".join(f"{p.label} {p.source}" for p in missing_start)
    if constants.HF_HUB_OFFLINE:
        return Check(
            "model files",
            FAIL,
            f"{family_name}: {names} are not in {cache} and HF_HUB_OFFLINE is set, so the bot "
            "cannot start: unset HF_HUB_OFFLINE for the first start, or set HF_HOME to a cache "
            "that has them",
        )
    # The hub first: a gated or missing repository is the cause to name, whatever the disk.
    unanswered = None
    for part in missing_start:
        answer = ask_hub(part.source)
        if answer.status == FAIL:
            # A refusal in the very words the start would use (generation.models.load_errors).
            why = load_failure(part.source, answer.refusal) if answer.refusal else answer.detail
            return Check("model files", FAIL, f"{family_name} {part.label}: {why}")
        if answer.status == WARN:
            unanswered = answer.detail
            break  # no hub here: asking about the other repositories would only wait longer
    free_gb = shutil.disk_usage(_existing_ancestor(cache)).free / GB
    if free_gb < need_gb + later_gb + 1:
        return Check(
            "model files",
            FAIL,
            f"{family_name}: {names} must be downloaded (≈{need_gb:.1f} GB, ≈"
            f"{need_gb + later_gb:.1f} GB with every mode) but only {free_gb:.1f} GB is free "
            f"under {cache}: free some space or set HF_HOME to a bigger disk",
        )
    download = (
        f"{family_name}: not downloaded yet: the first start downloads {names} "
        f"(≈{need_gb:.1f} GB) into {cache}, with progress bars in the log{later}"
    )
    if unanswered is None:
        return Check("model files", OK, download)
    return Check(
        "model files",
        WARN,
        f"{download}. Could not check the hub: {unanswered}: without internet access here the "
        "first start fails; copy a filled HF_HOME over instead",
    )


# ---------------------------------------------------------------------- the hub

HUB_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class HubAnswer:
    """What the hub said of one repository: OK, FAIL (it refused) or WARN (no answer at all)."""

    status: str
    detail: str = ""  # what happened, with the fix; empty for a refusal (the caller words it)
    refusal: Exception | None = None  # GatedRepoError or RepositoryNotFoundError
    files: tuple[str, ...] | None = None  # the repository's files, when it listed them


def ask_hub(repo: str) -> HubAnswer:
    """Whether the bot could download `repo` at start, asked the way it will download it.

    huggingface_hub reads HF_ENDPOINT and the token (HF_TOKEN, else the one saved by `hf auth
    login`) itself, as it does at start; its errors tell a gated repository, a missing or
    private one and a refused token apart.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    endpoint = constants.ENDPOINT
    api = HfApi()
    try:
        info = api.model_info(repo, timeout=HUB_TIMEOUT_S)
        if info.gated:
            # A gated repository's description is public; only auth-check says if files are.
            api.auth_check(repo)
    except RepositoryNotFoundError as exc:  # GatedRepoError included
        return HubAnswer(FAIL, refusal=exc)
    except HfHubHTTPError as exc:
        code = exc.response.status_code if exc.response is not None else None
        if code == 401:
            token = _hub_token_source() or "the token"
            return HubAnswer(
                FAIL,
                f"the hub refused {token} ({exc.server_message or 'HTTP 401'}): create a new "
                f"read token at {endpoint}/settings/tokens, or unset HF_TOKEN for public models",
            )
        return HubAnswer(WARN, f"the hub at {endpoint} answered HTTP {code} about {repo}")
    except Exception as exc:  # refused, DNS, timeout, proxy: the hub never answered
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return HubAnswer(WARN, f"no answer from {endpoint} ({type(exc).__name__}: {reason})")
    files = None if info.siblings is None else tuple(f.rfilename for f in info.siblings)
    return HubAnswer(OK, files=files)


def _hub_token_source() -> str | None:
    """Which token huggingface_hub sends, by name (never the token itself); None without one."""
    from huggingface_hub import get_token

    try:
        token = get_token()
    except Exception:  # an OIDC exchange that failed: the hub gets no token either
        return None
    if token is None:
        return None
    if os.environ.get("HF_TOKEN", "").strip() == token:
        return "HF_TOKEN"
    return "the saved hub token (`hf auth login`)"


def _check_tiny(name: str) -> Check:
    from generation.models.testing.tiny_models import TINY_BUILD_VERSION, cache_root

    folder = cache_root() / f"{name}-v{TINY_BUILD_VERSION}"
    if (folder / "COMPLETE").exists():
        return Check("model files", OK, f"{name}: built (random weights, offline) in {folder}")
    problem = _cannot_write(_existing_ancestor(folder.parent))
    if problem:
        return Check(
            "model files",
            FAIL,
            f"{name}: not built yet, and {problem}: set LCM_TINY_CACHE to a writable folder",
        )
    return Check(
        "model files",
        OK,
        f"{name}: not built yet; the first start builds it offline into {folder} (≈15 s)",
    )


# ---------------------------------------------------------------------- GPU memory


def check_memory(
    settings: Settings, device, dtype: str | None, gpus: Sequence[GpuInfo] = ()
) -> Check:
    """The family's needs against the free memory torch reports for the chosen device."""
    memory = MEMORY[settings.lcm_model]
    family = settings.lcm_model
    batch = settings.lcm_batch_images
    if device is None:
        return Check("GPU memory", SKIP, "not checked: no usable device (see above)")
    factor = 2.0 if dtype == "float32" else 1.0
    minimum, full = memory.minimum() * factor, memory.full(batch) * factor
    needs = (
        f"{family} needs ≈{minimum:.1f} GB to start and ≈{full:.1f} GB with every mode at "
        f"batches of {batch} ({'float32' if factor > 1 else 'float16'}; README, GPU memory)"
    )
    if device.type == "cuda":
        index = device.index or 0
        if index >= len(gpus):
            return Check("GPU memory", WARN, f"not measured (torch lists no cuda:{index}); {needs}")
        gpu = gpus[index]
        free_gb, total_gb = gpu.free_bytes / GB, gpu.total_bytes / GB
        have = f"{gpu.name}: {free_gb:.1f} GB free of {total_gb:.1f} GB"
        if free_gb < minimum:
            return Check(
                "GPU memory",
                FAIL,
                f"{have}; {needs}: choose a smaller family (sd15, ssd-1b), free the GPU, or use "
                "float16",
            )
        if free_gb < full:
            return Check(
                "GPU memory",
                WARN,
                f"{have}; {needs}: enough to start; lower LCM_BATCH_IMAGES, or expect big "
                "batches to be split after out-of-memory errors",
            )
        return Check("GPU memory", OK, f"{have}; {needs}")
    if device.type == "mps":
        return Check("GPU memory", OK, f"the Apple GPU shares system memory; {needs}")
    if family in ("tiny", "tiny-xl"):
        return Check("GPU memory", OK, "no GPU needed: the tiny family runs on the CPU")
    ram = _system_memory_gb()
    cpu_needs = memory.start * 2 + 2  # float32 weights plus working memory
    detail = f"no GPU: {family} runs on the CPU in float32 and needs ≈{cpu_needs:.0f} GB of RAM" + (
        f" ({ram:.0f} GB here)" if ram else ""
    )
    status = FAIL if ram and ram < cpu_needs else WARN
    return Check("GPU memory", status, detail)


def _system_memory_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    except (ValueError, OSError, AttributeError):
        return None


# ---------------------------------------------------------------------- styles


# File names of LoRA weights as they are shared; only .safetensors is ever loaded.
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def looks_like_path(source: str) -> bool:
    """A style source as one writes a file: ./x, ~/x, /x, a/b/c, a\\b, or a weights file name.

    `owner/name` is a hub id; anything else with a separator, or named like weights, is a path.
    The bot itself takes a missing `loras/x.ckpt` for a hub id and fails at start downloading it.
    """
    return (
        source.startswith((".", "~", "/"))
        or source.count("/") > 1
        or "\\" in source
        or source.lower().endswith(WEIGHT_SUFFIXES)
        or not HUB_ID.fullmatch(source)
    )


def check_styles(path: Path | None, family_name: str) -> Check:
    from generation.errors import ModelUnavailable
    from generation.models.families import HUB_FAMILIES
    from generation.models.styles import StyleLibrary

    if path is None:
        return Check("styles", OK, "no styles file (LCM_STYLES_FILE is empty): /styles lists none")
    # Sources as written, before the library takes a missing path for a hub id.
    problems = [_missing_path(path, name, source) for name, source in _sources(path).items()]
    problems = [problem for problem in problems if problem]
    if problems:
        return Check("styles", FAIL, "; ".join(problems))
    try:
        library = StyleLibrary.load(path)
    except ModelUnavailable as exc:
        return Check("styles", FAIL, f"LCM_STYLES_FILE: {exc}")
    if not len(library):
        return Check("styles", WARN, f"{path} parses but allows no style ([styles.NAME] tables)")
    hub_problems, unanswered = _hub_styles(library, path)
    if hub_problems:
        return Check("styles", FAIL, "; ".join(hub_problems))
    family = HUB_FAMILIES.get(family_name)
    architecture = family.architecture if family else ("sdxl" if "xl" in family_name else "sd")
    fitting = library.for_architecture(architecture)
    names = ", ".join(style.name for style in fitting) or "none"
    detail = f"{path}: {len(library)} style(s); for {family_name}: {names}"
    other = len(library) - len(fitting)
    if not fitting:
        return Check(
            "styles",
            WARN,
            f"{detail}: every style is for another architecture than {architecture!r}, so "
            "users see none",
        )
    if other:
        detail += f" ({other} for another architecture, not offered)"
    if unanswered:
        return Check("styles", WARN, f"{detail}; could not check the hub ids: {unanswered}")
    return Check("styles", OK, detail)


def _sources(path: Path) -> dict[str, str]:
    """{style: source} as written in the styles file; what is malformed, StyleLibrary reports."""
    import tomllib

    try:
        table = tomllib.loads(path.read_text("utf-8")).get("styles", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {
        name: entry["source"]
        for name, entry in table.items()
        if isinstance(entry, dict) and isinstance(entry.get("source"), str) and entry["source"]
    }


def _missing_path(styles_file: Path, name: str, source: str) -> str | None:
    """The problem with a style whose source is a path that is not there; None otherwise."""
    if not looks_like_path(source) or "\x00" in source:
        return None
    # Resolved the way StyleLibrary does: relative to the styles file's folder.
    where = (styles_file.parent / Path(source).expanduser()).resolve()
    if where.exists():
        return None
    fix = f"put the weights there, or correct `source` in {styles_file}"
    if not Path(source).expanduser().is_absolute():
        fix += " (a relative path starts at that file's folder)"
    if where.suffix.lower() in WEIGHT_SUFFIXES and where.suffix.lower() != ".safetensors":
        fix += f"; and convert it to .safetensors: {where.suffix} files are never loaded"
    return f"style {name!r}: {source} is a path, but {where} does not exist: {fix}"


def _style_refusal(repo: str, refusal: Exception, styles_file: Path) -> str:
    """A style's repository the hub refused, worded as the start words a model's."""
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError

    page = f"{constants.ENDPOINT}/{repo}"
    token = _hub_token_source()
    if isinstance(refusal, GatedRepoError):
        if token:
            return (
                f"{repo} is gated and {token} has no access to it yet: accept its conditions at "
                f"{page} with that token's account (some are approved by hand)"
            )
        return (
            f"{repo} is gated and needs a token: accept its conditions at {page} while logged "
            "in, then set HF_TOKEN to a read token of that account"
        )
    if token:
        return (
            f"{repo} is not on the Hugging Face hub, or it is private and {token} cannot read "
            f"it: check `source` in {styles_file}, and the token's access"
        )
    return (
        f"{repo} is not on the Hugging Face hub, or it is private: check `source` in "
        f"{styles_file}; for a private repository set HF_TOKEN to a token that can read it"
    )


def _hub_styles(library, styles_file: Path) -> tuple[list[str], str | None]:
    """(problems, why the hub did not answer) for the styles whose source is a hub id."""
    from huggingface_hub import constants, try_to_load_from_cache

    problems: list[str] = []
    for style in library:
        if Path(style.source).is_absolute():
            continue  # a local file or folder that exists (StyleLibrary resolved it)
        weights = style.weight_name or "pytorch_lora_weights.safetensors"
        if constants.HF_HUB_OFFLINE:
            if not isinstance(try_to_load_from_cache(style.source, weights), str):
                problems.append(
                    f"style {style.name!r}: {style.source} ({weights}) is not in the cache "
                    f"{constants.HF_HUB_CACHE} and HF_HUB_OFFLINE is set: unset it for the "
                    "first start, or use a local .safetensors file"
                )
            continue
        answer = ask_hub(style.source)
        if answer.status == WARN:
            return problems, answer.detail  # no hub here: asking again would only wait longer
        if answer.status == FAIL:
            why = (
                _style_refusal(style.source, answer.refusal, styles_file)
                if answer.refusal
                else answer.detail
            )
            problems.append(f"style {style.name!r}: {why}")
        elif style.weight_name and answer.files is not None and weights not in answer.files:
            listed = ", ".join(f for f in answer.files if f.endswith(".safetensors")) or "none"
            problems.append(
                f"style {style.name!r}: {style.source} has no file {weights} (its .safetensors "
                f"files: {listed}): correct `weight_name`"
            )
    return problems, None


# ---------------------------------------------------------------------- http


def check_http(host: str, port: int) -> Check:
    if not port:
        return Check(
            "http",
            OK,
            "off (LCM_HTTP_PORT=0): no /healthz or /metrics; Docker's HEALTHCHECK needs it",
        )
    where = f"http://{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return Check("http", FAIL, f"LCM_HTTP_HOST={host} is not an address here: {exc}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            return Check(
                "http",
                WARN,
                f"{where} is taken ({exc.strerror}): if that is a running lcm-bot, fine "
                "(`lcm-bot health` asks it); otherwise set LCM_HTTP_PORT to a free port",
            )
    exposed = "" if host in ("127.0.0.1", "localhost", "::1") else " (reachable from outside)"
    return Check("http", OK, f"/healthz and /metrics will listen on {where}{exposed}")
