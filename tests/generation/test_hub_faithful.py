"""The operator's path, offline: production loading from the real hub ids and the real layouts.

Every hub id in the registry has a hub-faithful stand-in (generation/models/testing/hub_faithful:
the real repository's files, formats, variants, config keys and LoRA key style, with tiny random
weights) laid out as a Hugging Face cache. huggingface_hub reads HF_HOME and HF_HUB_OFFLINE at
import, so the production code runs in processes of its own with that environment, through the same
``from_pretrained(hub_id)`` calls it makes for an operator; nothing in it is patched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from safetensors import safe_open

from generation.models.families import HUB_FAMILIES, LoraSource, resolve_family
from generation.models.testing.hub_faithful import ensure_hub_cache, load_manifests, repo_folder
from generation.models.testing.hub_faithful.cache import snapshot_folder
from generation.models.testing.hub_faithful.manifest import merged_config
from generation.modes import supported_modes
from tests.bot.test_cli_doctor import DUMMY_TOKEN, LCM_BOT, items

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("sd15", "sdxl", "ssd-1b", "dreamshaper-lcm", "lcm-sdxl", "lcm-ssd-1b")
MANIFESTS = load_manifests()


@pytest.fixture(scope="module")
def built() -> Path:
    """The hub-faithful cache (built once per cache version, then reused by every run)."""
    return ensure_hub_cache()


@pytest.fixture(scope="module")
def hub_home(built, tmp_path_factory) -> Path:
    """An HF_HOME of this run whose hub/ is the built cache; what production writes lands here."""
    home = tmp_path_factory.mktemp("hf-home")
    (home / "hub").symlink_to(built / "hub", target_is_directory=True)
    return home


def _environment(home: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        # Two cores shared with other jobs: one thread each avoids spin-waiting on a busy core
        # (measured: a 256² SD1.5 call 0.9 s with one thread, 31 s with two under load).
        "OMP_NUM_THREADS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "DIFFUSERS_VERBOSITY": "error",
        **extra,
    }


def _run_family(name: str, home: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.generation.hub_family_run", name],
        cwd=ROOT,
        env=_environment(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    for line in done.stdout.splitlines():
        if line.startswith("HUB-FAMILY-REPORT "):
            return json.loads(line.removeprefix("HUB-FAMILY-REPORT "))
    return {"family": name, "modes": {}, "error": f"exit {done.returncode}: {done.stderr[-2000:]}"}


@pytest.fixture(scope="module")
def family_reports(hub_home) -> dict[str, dict]:
    """Every family end to end, two processes at a time (one per core)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_run_family, name, hub_home) for name in FAMILIES}
        return {name: future.result() for name, future in futures.items()}


# --------------------------------------------------------------------------- the registry


def _hub_ids_of(family) -> set[str]:
    found = set()
    for field in dataclasses.fields(family):
        value = getattr(family, field.name)
        values = value.values() if isinstance(value, dict | type(family.motion_loras)) else [value]
        for item in values:
            source = item.source if isinstance(item, LoraSource) else item
            if isinstance(source, str) and "/" in source and not source.startswith(("/", ".")):
                found.add(source)
    return found


def test_every_hub_id_of_the_registry_has_a_manifest():
    registry = set().union(*(_hub_ids_of(family) for family in HUB_FAMILIES.values()))
    assert registry - set(MANIFESTS) == set(), "hub ids without a hub-faithful repository"
    assert set(MANIFESTS) - registry == set(), "manifests of hub ids the registry no longer uses"


# --------------------------------------------------------------------------- manifest == build


@pytest.mark.parametrize("hub_id", sorted(MANIFESTS))
def test_the_built_repository_is_what_its_manifest_records(hub_id, built):
    manifest = MANIFESTS[hub_id]
    snapshot = snapshot_folder(built, hub_id)
    on_disk = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())
    assert on_disk == [entry["path"] for entry in manifest["files"]]
    for entry in manifest["files"]:
        _check_format(snapshot / entry["path"], entry)
    for where, component in manifest["components"].items():
        if component["kind"] in ("diffusers", "transformers", "safety_checker"):
            written = json.loads((snapshot / where / "config.json").read_text())
            _assert_contains(written, merged_config(component), f"{hub_id}/{where}/config.json")
        elif component["kind"] == "json":
            assert json.loads((snapshot / where).read_text()) == component["content"]
        elif component["kind"].startswith("lora_"):
            _check_lora_keys(snapshot / where, manifest["lora_keys"])


def _check_format(path: Path, entry: dict) -> None:
    if entry["format"] == "safetensors":
        with safe_open(str(path), framework="pt") as weights:
            dtypes = {str(weights.get_slice(key).get_dtype()) for key in weights.keys()}  # noqa: SIM118 (safe_open is not iterable)
        wanted = "F16" if entry.get("dtype") == "float16" else "F32"
        assert wanted in dtypes and dtypes <= {wanted, "I64"}, (path, dtypes)
    elif entry["format"] == "pickle":
        # torch.save's zip container; the test never unpickles it.
        assert zipfile.is_zipfile(path), path
    elif entry["format"] == "json":
        json.loads(path.read_text())
    else:
        assert path.read_text().startswith("#version"), path  # BPE merges


def _assert_contains(written: dict, expected: dict, where: str) -> None:
    for key, value in expected.items():
        if key.startswith("_") and key != "_class_name":
            continue  # _diffusers_version is the writer's
        assert key in written, f"{where}: {key} missing"
        if isinstance(value, dict):
            _assert_contains(written[key], value, f"{where}:{key}")
        else:
            got = written[key]
            assert (list(got) if isinstance(got, tuple) else got) == value, f"{where}: {key}"


def _check_lora_keys(path: Path, style: dict) -> None:
    with safe_open(str(path), framework="pt") as weights:
        keys = list(weights.keys())
    assert keys and all(key.startswith(style["prefix"]) for key in keys)
    assert all(key.endswith(tuple(style["per_module"])) for key in keys)
    # kohya: "<module>.lora_down.weight" (module without dots); old: "<...to_q_lora>.down.weight"
    kohya = style["style"] == "kohya"
    modules = {key.split(".")[0] if kohya else key.rsplit(".", 2)[0] for key in keys}
    assert len(keys) == len(modules) * len(style["per_module"])


def test_the_cache_layout_is_the_hub_clients(built):
    """refs/main names the snapshot, snapshot files are links into blobs/, the tree lists them."""
    from huggingface_hub import try_to_load_from_cache

    for hub_id, manifest in MANIFESTS.items():
        repo = repo_folder(built, hub_id)
        commit = (repo / "refs" / "main").read_text()
        assert len(commit) == 40 and int(commit, 16) >= 0
        tree = json.loads((repo / "trees" / f"{commit}.json").read_text())
        assert sorted(tree["files"]) == [entry["path"] for entry in manifest["files"]]
        for entry in manifest["files"]:
            link = repo / "snapshots" / commit / entry["path"]
            assert link.is_symlink() and link.resolve().parent == (repo / "blobs").resolve()
            found = try_to_load_from_cache(hub_id, entry["path"], cache_dir=built / "hub")
            assert found == str(link)


# --------------------------------------------------------------------------- production, end to end


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_every_mode_of_a_hub_family_makes_images_from_the_real_hub_ids(name, family_reports):
    report = family_reports[name]
    print(f"\n{name}: {json.dumps(report)}")
    assert "error" not in report, report["error"]
    family = resolve_family(name)
    assert set(report["modes"]) == {str(mode) for mode in supported_modes(family)}
    failures = {mode: entry["error"] for mode, entry in report["modes"].items() if "error" in entry}
    assert failures == {}
    for entry in report["modes"].values():
        assert entry["size"] == [family.min_side, family.min_side]
        assert entry["distinct_colours"] > 64  # a picture, not a blank or flat decode
    assert report["modes"]["txt2img"]["nsfw"] is not None  # the safety checker ran
    if "animate" in report["modes"]:
        assert report["modes"]["animate"]["frames"] == 8
    # Every module a LoRA file names got its layer: none of its keys was silently dropped.
    expected = {"lcm"} if family.lcm_lora else set()
    if "animate" in report["modes"]:
        expected |= {f"motion-{name}" for name in family.motion_loras}
    assert set(report["lora_layers"]) == expected
    for adapter, (attached, in_file) in report["lora_layers"].items():
        assert attached == in_file > 0, adapter


def _run_doctor(name: str, home: Path, folder: Path) -> subprocess.CompletedProcess:
    folder.mkdir()
    env = _environment(
        home,
        LCM_MODEL=name,
        DISCORD_TOKEN=DUMMY_TOKEN,
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'lcm.sqlite3'}",
        LCM_HTTP_PORT="0",
    )
    return subprocess.run(
        [str(LCM_BOT), "doctor"], env=env, cwd=folder, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def doctor_runs(hub_home, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """`lcm-bot doctor` per family (empty working folder, no .env), two at a time."""
    root = tmp_path_factory.mktemp("doctor")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_run_doctor, name, hub_home, root / name) for name in FAMILIES}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_doctor_is_green_for_a_hub_family_whose_cache_is_complete(name, doctor_runs):
    done = doctor_runs[name]
    report = items(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    status, detail = report["model files"]
    assert status == "ok", detail
    assert "every companion is cached too" in detail, detail
