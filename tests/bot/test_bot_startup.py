"""A real `lcm-bot run` as an operator starts it: commands synced, quiet, one-line failures."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from tests.bot.test_cli_doctor import DUMMY_TOKEN, LCM_BOT
from tests.discord_double import DiscordDouble

ROOT = Path(__file__).resolve().parents[2]
# `2026-11-30 04:24:44,711 INFO bot.run: ...`: the text log format (bot/logs.py).
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) ")
START_TIMEOUT_S = 180


def operator_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """What an operator's shell has: no test-wide verbosity switches, an empty model cache."""
    from generation.models.testing.tiny_models import cache_root

    home = tmp_path / "home"
    (home / "hf").mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "LCM_TINY_CACHE": str(cache_root()),  # the tiny families, built once per machine
        "HF_HUB_OFFLINE": "1",
        "LCM_HTTP_PORT": "0",  # other tests run beside this one
        **settings,
    }


# -- the first start from .env.example ---------------------------------------------------------


@dataclass(frozen=True)
class FirstStart:
    exit_status: int
    stderr: str
    global_commands: list[str]
    global_syncs: int
    guild_syncs: int


async def _first_start(work: Path) -> FirstStart:
    """`cp .env.example .env`, fill in the token, run, wait for the commands, stop with SIGTERM."""
    env_file = (ROOT / ".env.example").read_text()
    async with DiscordDouble() as double:
        assert "\nDISCORD_TOKEN=\n" in env_file, "the example's token line changed"
        (work / ".env").write_text(
            env_file.replace("\nDISCORD_TOKEN=\n", f"\nDISCORD_TOKEN={double.token}\n")
        )
        env = operator_env(
            work,
            # The example's sd15 needs the hub, which test machines lack; its sync settings stay.
            LCM_MODEL="tiny",
            PYTHONPATH=str(ROOT),
            LCM_TEST_API=f"{double.url}/api/v10",
            LCM_TEST_GATEWAY=str(double.gateway_url),
        )
        log = work / "stderr.log"
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.bot.cli_against_double",
                env=env,
                cwd=work,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                # The plan is logged once every sync it asked for is done.
                await double.wait_until(
                    lambda: "slash commands:" in log.read_text() or process.returncode is not None,
                    START_TIMEOUT_S,
                    "the start's sync log line",
                )
                await double.wait_until_connected(30)
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                exit_status = await asyncio.wait_for(process.wait(), 60)
        return FirstStart(
            exit_status=exit_status,
            stderr=log.read_text(),
            global_commands=sorted(command["name"] for command in double.commands_for(None)),
            global_syncs=double.sync_count(None),
            guild_syncs=double.sync_count(double.guild),
        )


@pytest.fixture(scope="module")
def first_start(tmp_path_factory, tiny_family) -> FirstStart:
    """One real start shared by the tests below (each start costs tens of seconds on 2 cores)."""
    return asyncio.run(_first_start(tmp_path_factory.mktemp("first-start")))


@pytest.mark.slow
def test_a_first_start_from_env_example_syncs_the_commands_globally_and_says_so(first_start):
    assert first_start.exit_status == 0, first_start.stderr
    assert "imagine" in first_start.global_commands, first_start.stderr
    assert first_start.global_syncs == 1
    assert first_start.guild_syncs == 0, "no guild listed in .env.example"
    said = [line for line in first_start.stderr.splitlines() if "slash commands:" in line]
    assert len(said) == 1, first_start.stderr
    assert (
        " INFO bot.app: slash commands: synced globally because DISCORD_GUILD_IDS is empty"
        in (said[0])
    )
    assert "up to an hour" in said[0] and "DISCORD_GUILD_IDS" in said[0]


@pytest.mark.slow
def test_a_start_gives_no_advice_to_install_what_the_bot_does_not_use(first_start):
    assert first_start.exit_status == 0, first_start.stderr
    assert "slash commands:" in first_start.stderr, "the client was built: PyNaCl had its chance"
    advice = [word for word in ("torchvision", "PyNaCl", "davey") if word in first_start.stderr]
    assert advice == [], first_start.stderr


# -- a model that cannot load ------------------------------------------------------------------


@asynccontextmanager
async def fake_hub(error_code: str) -> AsyncIterator[str]:
    """A loopback Hugging Face hub that answers every request with one of the hub's refusals.

    The real hub marks the cause in the X-Error-Code header; huggingface_hub turns it into its
    GatedRepoError or RepositoryNotFoundError, which is what the bot has to explain.
    """

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(
            status=401, headers={"X-Error-Code": error_code, "X-Error-Message": "refused"}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def lcm_bot_run(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """The console script, as an operator runs it: its exit status and its stderr."""
    assert LCM_BOT.exists(), f"the console script is not installed at {LCM_BOT}"
    process = await asyncio.create_subprocess_exec(
        str(LCM_BOT),
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)
    return process.returncode, stderr.decode()


def the_one_error_line(stderr: str) -> str:
    """Every stderr line is an INFO log line but one, the ERROR: no traceback, no advice."""
    others = [
        line
        for line in stderr.splitlines()
        if not ((match := LOG_LINE.match(line)) and match["level"] == "INFO")
    ]
    assert len(others) == 1, stderr
    match = LOG_LINE.match(others[0])
    assert match and match["level"] == "ERROR", stderr
    return others[0]


def _incomplete_tiny_base(tmp_path: Path) -> str:
    from generation.models.families import resolve_family

    folder = tmp_path / "incomplete-base"
    shutil.copytree(resolve_family("tiny").base, folder)
    for weights in (folder / "unet").glob("*.safetensors"):
        weights.unlink()
    return str(folder)


# The worker process's path is covered by the first case; the others load in the bot's own
# process, which reports the same one line a second or so sooner per case (CI time adds up).
IN_PROCESS = {"LCM_MODEL": "sd15", "LCM_WORKER": "thread"}

# (case, the family's settings, the hub's answer or None for no hub, what the line must say)
CASES = [
    (
        "offline",
        {"LCM_MODEL": "sd15"},
        None,
        "stable-diffusion-v1-5/stable-diffusion-v1-5 is not in the model cache",
        "HF_HUB_OFFLINE=1 forbids downloading it",
    ),
    (
        "offline, in the bot's own process",
        {"LCM_MODEL": "sd15", "LCM_WORKER": "thread"},
        None,
        "stable-diffusion-v1-5/stable-diffusion-v1-5 is not in the model cache",
        "HF_HUB_OFFLINE=1 forbids downloading it",
    ),
    (
        "hub unreachable",
        {**IN_PROCESS, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"},
        None,
        "the Hugging Face hub cannot be reached",
        "check the network",
    ),
    (
        "gated",
        {**IN_PROCESS, "HF_HUB_OFFLINE": "0"},
        "GatedRepo",
        "stable-diffusion-v1-5/stable-diffusion-v1-5 is gated and needs a token",
        "then set HF_TOKEN to a read token of that account",
    ),
    (
        "gated, with a token that has no access yet",
        {**IN_PROCESS, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_" + "x" * 34},
        "GatedRepo",
        "is gated and the hub token in use has no access to it yet",
        "accept its conditions at http://127.0.0.1:",
    ),
    (
        "no such repository",
        {**IN_PROCESS, "LCM_BASE": "someone/no-such-model", "HF_HUB_OFFLINE": "0"},
        "RepoNotFound",
        "someone/no-such-model is not on the Hugging Face hub, or it is private",
        "check the id",
    ),
    (
        "a file missing",
        {"LCM_MODEL": "tiny", "LCM_BASE": "{incomplete}", "LCM_WORKER": "thread"},
        None,
        "no file named diffusion_pytorch_model.safetensors",
        "the folder is incomplete",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("settings", "hub_answer", "cause", "fix"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_a_model_that_cannot_load_stops_the_start_with_one_line(
    tmp_path, tiny_family, settings, hub_answer, cause, fix
):
    settings = {
        key: value.replace("{incomplete}", _incomplete_tiny_base(tmp_path))
        if "{incomplete}" in value
        else value
        for key, value in settings.items()
    }
    env = operator_env(tmp_path, DISCORD_TOKEN=DUMMY_TOKEN, **settings)
    if hub_answer is None:
        status, stderr = await lcm_bot_run(env, tmp_path)
    else:
        async with fake_hub(hub_answer) as endpoint:
            status, stderr = await lcm_bot_run({**env, "HF_ENDPOINT": endpoint}, tmp_path)
    assert status == 1, stderr
    line = the_one_error_line(stderr)
    assert "ERROR bot.run: could not start: cannot load" in line
    assert cause in line and fix in line, line
    assert "local_files_only" not in stderr, "diffusers' hint does not apply to an operator"


@pytest.mark.slow
async def test_the_traceback_of_a_failed_load_is_in_the_debug_log(tmp_path, tiny_family):
    env = operator_env(
        tmp_path,
        DISCORD_TOKEN=DUMMY_TOKEN,
        LCM_MODEL="sd15",  # loaded in a worker process, whose log must reach the bot's
        LCM_LOG_LEVEL="DEBUG",
    )
    status, stderr = await lcm_bot_run(env, tmp_path)
    assert status == 1, stderr
    assert "DEBUG generation.modes.pipelines: loading the sd15 base model" in stderr
    assert "huggingface_hub.errors.OfflineModeIsEnabled" in stderr, "the real cause's trace"
    errors = [line for line in stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, stderr


@pytest.mark.slow
async def test_hf_token_in_env_file_reaches_the_hub_and_never_the_log(tmp_path, tiny_family):
    """`make run` reads `.env`: a token written there must be the one the hub is sent."""
    token = "hf_" + "y" * 34
    (tmp_path / ".env").write_text(f"HF_TOKEN={token}\n")
    env = operator_env(tmp_path, DISCORD_TOKEN=DUMMY_TOKEN, LCM_MODEL="sd15", LCM_WORKER="thread")
    env["HF_HUB_OFFLINE"] = "0"
    async with fake_hub("GatedRepo") as endpoint:
        status, stderr = await lcm_bot_run({**env, "HF_ENDPOINT": endpoint}, tmp_path)
    assert status == 1, stderr
    # Without the token the hub's refusal reads "gated and needs a token".
    assert "the hub token in use has no access to it yet" in the_one_error_line(stderr)
    assert token not in stderr
