"""The two ways in, `lcm-bot …` and `python -m bot …`, and `--version`, as real processes."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.bot.cli_env import clean_env

LCM_BOT = Path(sys.executable).with_name("lcm-bot")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """No token, the tiny family (not built: doctor only looks), SQLite in tmp, no HTTP port."""
    return clean_env(tmp_path, HF_HUB_OFFLINE="1")


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_version_is_the_installed_distributions(env, tmp_path):
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert version("lcm-bot") == declared, "the installed lcm-bot is not this checkout's"
    assert run([str(LCM_BOT), "--version"], env, tmp_path) == (0, f"lcm-bot {declared}\n", "")


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["--version"], 0, "lcm-bot "),
        (["--help"], 0, "usage: lcm-bot"),
        ([], 2, "the following arguments are required: COMMAND"),
        (["doctor"], 1, "lcm-bot doctor: the settings come from the environment and .env"),
        (["run"], 2, "DISCORD_TOKEN is not set"),
        (["generate", "x", "--model", "sd15", "--steps", "20", "--out", "o"], 2, "error: steps:"),
        (["db", "current"], 0, "database at revision none"),
    ],
)
def test_python_m_bot_is_lcm_bot(env, tmp_path, args, status, says):
    by_script = run([str(LCM_BOT), *args], env, tmp_path)
    by_module = run([sys.executable, "-m", "bot", *args], env, tmp_path)
    assert by_module == by_script
    code, stdout, stderr = by_module
    assert code == status and says in stdout + stderr, stdout + stderr
