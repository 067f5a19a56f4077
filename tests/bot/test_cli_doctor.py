"""`lcm-bot doctor` and the settings checks, through the installed console script.

Every run gets a controlled environment and an empty working directory, so no `.env` and no
setting of the machine running the tests leaks in.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.doctor import FAIL, OK, WARN, check_database, check_token
from generation.models.gpus import GpuInfo
from storage import migrate

LCM_BOT = Path(sys.executable).with_name("lcm-bot")
# The format of a bot token (base64 user id . timestamp . HMAC), but no real one.
BOT_ID = 123456789012345678
DUMMY_TOKEN = (
    base64.urlsafe_b64encode(str(BOT_ID).encode()).decode().rstrip("=")
    + ".GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
)


@pytest.fixture
def env(tmp_path, tiny_family) -> dict[str, str]:
    """A clean environment: the tiny family (already built), no hub, a valid-format token."""
    from generation.models.testing.tiny_models import cache_root

    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LCM_TINY_CACHE": str(cache_root()),
        "HF_HUB_OFFLINE": "1",
        "LCM_MODEL": "tiny",
        "DISCORD_TOKEN": DUMMY_TOKEN,
    }


def lcm_bot(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    assert LCM_BOT.exists(), f"the console script is not installed at {LCM_BOT}"
    return subprocess.run(
        [str(LCM_BOT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def items(output: str) -> dict[str, tuple[str, str]]:
    """{item: (status, detail)} from doctor's report lines."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.strip().partition("  ")
        if status in (OK, WARN, FAIL, "--") and line.startswith("  "):
            item, _, detail = rest.strip().partition("  ")
            found[item.strip()] = (status, detail.strip())
    return found


GUILD_ID = "123456789012345678"


def test_doctor_on_a_cpu_machine_with_the_tiny_family_reports_everything_fine(env, tmp_path):
    database = tmp_path / "lcm.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    migrate.upgrade(url, "head")
    done = lcm_bot(
        ["doctor"], {**env, "DATABASE_URL": url, "DISCORD_GUILD_IDS": GUILD_ID}, tmp_path
    )
    report = items(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(report) == {
        "settings",
        "token",
        "commands",
        "database",
        "device",
        "model files",
        "GPU memory",
        "styles",
        "http",
    }
    assert {status for status, _ in report.values()} == {OK}, done.stdout
    assert f"bot user id {BOT_ID}" in report["token"][1]
    assert "reachable and migrated" in report["database"][1]
    assert report["device"][1].startswith("cpu, float32: no GPU")
    assert "tiny: built" in report["model files"][1]
    assert "Traceback" not in done.stderr
    assert DUMMY_TOKEN not in done.stdout + done.stderr, "the token is never printed"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the probe goes


@pytest.mark.parametrize(
    ("variable", "value", "item", "says"),
    [
        ("DATABASE_URL", "mysql://lcm@localhost/lcm", "database", "uses 'mysql'; use sqlite"),
        (
            "DATABASE_URL",
            "postgresql+asyncpg://lcm:hunter22@127.0.0.1:{port}/lcm",
            "database",
            "cannot reach the database postgresql+asyncpg://lcm:***@127.0.0.1",
        ),
        ("LCM_MODEL", "sd16", "model files", "unknown model family 'sd16' (allowed: sd15,"),
        ("LCM_STYLES_FILE", "{tmp}/styles.toml", "styles", "styles.toml does not exist"),
    ],
)
def test_doctor_names_each_broken_setting_and_exits_non_zero(
    env, tmp_path, variable, value, item, says
):
    value = value.format(port=_closed_port(), tmp=tmp_path)
    done = lcm_bot(["doctor"], {**env, variable: value}, tmp_path)
    report = items(done.stdout)
    assert done.returncode == 1, done.stdout + done.stderr
    status, detail = report[item]
    assert status == FAIL and says in detail, done.stdout
    failed = [name for name, (status, _) in report.items() if status == FAIL]
    assert failed == [item], done.stdout
    assert "hunter22" not in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LCM_MODEL", "sd16", "LCM_MODEL: unknown model family 'sd16' (allowed: sd15, sdxl"),
        ("LCM_DEVICE", "gpu", "LCM_DEVICE: unknown device 'gpu' (allowed: auto, cuda, cuda:N"),
        ("LCM_DTYPE", "fp16", "LCM_DTYPE: unknown dtype 'fp16' (allowed: auto, float16"),
        ("LCM_STYLES_FILE", "nowhere/styles.toml", "LCM_STYLES_FILE: nowhere/styles.toml does"),
        ("DISCORD_GUILD_IDS", "12345678901234567,my-server", "'my-server' is not a server id"),
        ("DATABASE_URL", "not a url", "DATABASE_URL: is not a database URL"),
        ("LCM_HTTP_PORT", "99999", "LCM_HTTP_PORT: Input should be less than or equal to 65535"),
    ],
)
def test_run_refuses_a_bad_setting_with_what_is_allowed_and_no_traceback(
    env, tmp_path, variable, value, says
):
    done = lcm_bot(["run"], {**env, variable: value}, tmp_path)
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: the settings (environment and .env) have a problem:")
    assert says in done.stderr, done.stderr


def test_run_without_a_token_says_how_to_get_one(env, tmp_path):
    del env["DISCORD_TOKEN"]
    (tmp_path / ".env").write_text("LCM_MODEL=tiny\n")  # a .env without the token
    done = lcm_bot(["run"], env, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "DISCORD_TOKEN is not set" in done.stderr
    assert "https://discord.com/developers/applications" in done.stderr


def test_doctor_reads_dot_env_from_the_working_directory(env, tmp_path):
    del env["LCM_MODEL"]
    (tmp_path / ".env").write_text("LCM_MODEL=sd16\n")
    done = lcm_bot(["doctor"], env, tmp_path)
    assert done.returncode == 1
    assert "unknown model family 'sd16'" in items(done.stdout)["model files"][1]


@pytest.mark.parametrize(
    ("token", "status", "says"),
    [
        (DUMMY_TOKEN, OK, "format of a bot token"),
        ("", FAIL, "DISCORD_TOKEN is not set"),
        (f"Bot {DUMMY_TOKEN}", FAIL, 'starts with "Bot "'),
        (f" {DUMMY_TOKEN}\n", FAIL, "spaces or a line break"),
        ("123456789012345678", FAIL, "application or user id"),
        ("a" * 32, FAIL, "OAuth2 client secret"),
        ("abc.def", FAIL, "this one has 2 part(s)"),
        ("abc.d$f.ghi", FAIL, "three parts"),
        ("notanid.GhIjKl.abcdef", WARN, "not a base64-encoded user id"),
    ],
)
def test_token_format_checks_name_the_mistake_and_never_echo_the_token(token, status, says):
    check = check_token(token)
    assert check.status == status and says in check.detail, check.detail
    if token.strip():
        assert token.strip() not in check.detail


def test_database_check_tells_new_empty_and_migrated_databases_apart(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'lcm.sqlite3'}"
    fresh = check_database(url)
    assert fresh.status == OK and "no database file yet" in fresh.detail
    assert not (tmp_path / "lcm.sqlite3").exists(), "doctor creates nothing"
    (tmp_path / "lcm.sqlite3").touch()
    empty = check_database(url)
    assert empty.status == WARN and "not migrated yet" in empty.detail
    migrate.upgrade(url, "head")
    assert check_database(url).status == OK
    migrate.downgrade(url, "-1")
    behind = check_database(url)
    assert behind.status == WARN and "the newest is" in behind.detail


@pytest.mark.parametrize(
    ("guild_ids", "global_sync", "status", "says"),
    [
        ("", "false", WARN, "synced globally because DISCORD_GUILD_IDS is empty: Discord can take"),
        (GUILD_ID, "false", OK, f"synced to 1 server(s) ({GUILD_ID}), visible at once"),
        (GUILD_ID, "true", OK, "visible at once and globally (Discord can take up to an hour"),
        ("my-server", "false", FAIL, "DISCORD_GUILD_IDS: 'my-server' is not a server id"),
    ],
)
def test_doctor_says_where_the_slash_commands_will_appear(
    env, tmp_path, guild_ids, global_sync, status, says
):
    settings = {"DISCORD_GUILD_IDS": guild_ids, "DISCORD_GLOBAL_SYNC": global_sync}
    done = lcm_bot(["doctor"], {**env, **settings}, tmp_path)
    report = items(done.stdout)
    assert report["commands"][0] == status and says in report["commands"][1], done.stdout
    # A bad server id is the commands line's finding, not a second one on the settings line.
    assert report["settings"][0] == OK, done.stdout


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("loras/pixel.ckpt", "loras/pixel.ckpt"),  # the typo: once taken for a hub id
        ("./loras/pixel", "loras/pixel"),
        ("weights/sd15/pixel-lora", "weights/sd15/pixel-lora"),
        ("pixel.safetensors", "pixel.safetensors"),
        ("pixel", "pixel"),
    ],
)
def test_a_style_path_that_is_not_there_fails_with_the_style_the_path_and_the_fix(
    env, tmp_path, source, where
):
    styles = tmp_path / "conf" / "styles.toml"
    styles.parent.mkdir()
    styles.write_text(f'[styles.pixel-art]\nsource = "{source}"\narchitecture = "sd"\n')
    # No hub at all: a path must never be asked of the hub as if it were a repository id.
    env = {
        **env,
        "LCM_STYLES_FILE": str(styles),
        "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
    }
    done = lcm_bot(["doctor"], env, tmp_path)
    status, detail = items(done.stdout)["styles"]
    assert done.returncode == 1 and status == FAIL, done.stdout
    resolved = styles.parent / where
    assert detail.startswith(
        f"style 'pixel-art': {source} is a path, but {resolved} does not exist"
    )
    assert f"put the weights there, or correct `source` in {styles}" in detail
    assert ("never loaded" in detail) == source.endswith(".ckpt"), detail


def test_a_style_path_that_is_there_passes_without_asking_the_hub(env, tmp_path):
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "pixel.safetensors").write_bytes(b"")  # StyleLibrary checks no content
    styles = tmp_path / "styles.toml"
    styles.write_text('[styles.pixel-art]\nsource = "loras/pixel.safetensors"\n')
    env = {
        **env,
        "LCM_STYLES_FILE": str(styles),
        "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
    }
    done = lcm_bot(["doctor"], env, tmp_path)
    assert items(done.stdout)["styles"] == (OK, f"{styles}: 1 style(s); for tiny: pixel-art")


GB = 10**9


def _gpu(index: int, name: str, free_gb: float, total_gb: float, cc=(8, 9)) -> GpuInfo:
    return GpuInfo(index, name, int(free_gb * GB), int(total_gb * GB), cc)


# Two devices as torch lists them: a 12 GB RTX 3060 and a MIG slice of an H100 (which nvidia-smi's
# card list never showed).
GPUS = (
    _gpu(0, "NVIDIA GeForce RTX 3060", 11.2, 12.5, (8, 6)),
    _gpu(1, "NVIDIA H100 80GB HBM3 MIG 3g.40gb", 22.5, 40.0, (9, 0)),
)


@pytest.mark.parametrize(
    ("family", "dtype", "index", "batch", "status"),
    [
        ("sd15", "float16", 0, 2, OK),  # 11.2 GB free; needs ≈10.2 GB with every mode
        ("sd15", "float16", 0, 8, WARN),  # starts (≈3.1 GB), but ≈15 GB for batches of 8
        ("sdxl", "float32", 0, 1, FAIL),  # ≈19.6 GB just to start in float32
        ("sdxl", "float16", 1, 4, OK),  # the MIG slice (22.5 GB free): ≈20.6 GB at batches of 4
        ("sdxl", "float16", 1, 8, WARN),  # ≈30.6 GB at batches of 8
    ],
)
def test_gpu_memory_is_measured_against_what_the_family_needs(family, dtype, index, batch, status):
    import torch

    from bot.doctor import check_memory
    from bot.settings import Settings

    settings = Settings(_env_file=None, lcm_model=family, lcm_batch_images=batch)
    check = check_memory(settings, torch.device("cuda", index), dtype, GPUS)
    gpu = GPUS[index]
    assert check.status == status, check.detail
    assert f"{gpu.name}: {gpu.free_bytes / GB:.1f} GB free of {gpu.total_bytes / GB:.1f} GB" in (
        check.detail
    )
    assert family in check.detail


def test_gpu_memory_without_the_chosen_device_says_so():
    import torch

    from bot.doctor import check_memory
    from bot.settings import Settings

    settings = Settings(_env_file=None, lcm_model="sd15")
    check = check_memory(settings, torch.device("cuda", 2), "float16", GPUS)
    assert check.status == WARN and "torch lists no cuda:2" in check.detail


@pytest.mark.gpu
def test_doctor_names_the_gpu_torch_uses_with_its_free_memory(env, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    name = torch.cuda.get_device_properties(0).name
    done = lcm_bot(["doctor"], {**env, "LCM_DEVICE": "cuda:0"}, tmp_path)
    report = items(done.stdout)
    assert report["device"][0] == OK and f"cuda:0 ({name})" in report["device"][1], done.stdout
    assert report["GPU memory"][1].startswith(f"{name}: "), done.stdout
