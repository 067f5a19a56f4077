"""pyproject.toml, the locks, the installed environment and the code's imports agree."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
PACKAGES = ("bot", "generation", "storage")
# Each lock and the extras it holds: the tests' (cpu) and the image's (cuda).
LOCKS = {"cpu": ("dev", "postgres", "ray"), "cuda": ("postgres",)}
TOOLS = "requirements/tools.in"
# The annotations uv writes for a package that an input asks for by name.
FROM_PYPROJECT = "lcm-bot (pyproject.toml)"
FROM_TOOLS = f"-r {TOOLS}"
# Both locks are resolved for CPython 3.11 on Linux x86-64 (the Makefile's `make lock`).
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
# Declared but never imported: each is loaded by name, and `why_loaded_by_name` checks the name.
LOADED_BY_NAME = {
    "aiosqlite": "SQLAlchemy's sqlite+aiosqlite dialect, named in the database URL",
    "asyncpg": "SQLAlchemy's postgresql+asyncpg dialect, named in the database URL",
    "accelerate": "diffusers loads weights through it when it is installed",
}


@dataclass
class Pin:
    version: str
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def read_lock(text: str) -> dict[str, Pin]:
    """uv's requirements format: `name==version \\`, its `--hash` lines, then `# via` lines."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in text.splitlines():
        if match := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line):
            current = pins[canonicalize_name(match[1])] = Pin(match[2])
        elif current and (match := re.match(r"\s+--hash=(\S+)", line)):
            current.hashes.append(match[1])
        elif current and (match := re.match(r"\s+# (?:via |  )(.+)", line)):
            current.via.add(match[1].strip())
    return pins


def lock(variant: str) -> dict[str, Pin]:
    return read_lock((ROOT / "requirements" / f"{variant}.txt").read_text("utf-8"))


def declared(pyproject: dict, extras: tuple[str, ...]) -> list[Requirement]:
    project = pyproject["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def tools() -> list[Requirement]:
    lines = (ROOT / TOOLS).read_text("utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def lock_problems(
    wanted: list[Requirement], tool_wanted: list[Requirement], pins: dict[str, Pin]
) -> list[str]:
    """What `make lock` would change: a declared package missing, off its bounds, or gone."""
    problems = []
    direct = {FROM_PYPROJECT: set(), FROM_TOOLS: set()}
    for source, requirements in ((FROM_PYPROJECT, wanted), (FROM_TOOLS, tool_wanted)):
        for requirement in requirements:
            if requirement.marker and not requirement.marker.evaluate(TARGET):
                continue
            name = canonicalize_name(requirement.name)
            direct[source].add(name)
            pin = pins.get(name)
            if pin is None:
                problems.append(f"{requirement} is declared but not locked")
            elif not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{requirement} is declared but {name}=={pin.version} is locked")
            elif source not in pin.via:
                problems.append(f"{name} is declared but the lock has it only as {pin.via}")
    for name, pin in pins.items():
        for source, names in direct.items():
            if source in pin.via and name not in names:
                problems.append(f"{name} is locked as declared by {source} but is not declared")
        parents = {v for v in pin.via if not v.startswith(("-c ", "-r ")) and v != FROM_PYPROJECT}
        if gone := {p for p in parents if canonicalize_name(p) not in pins}:
            problems.append(f"{name} is locked for {sorted(gone)}, which the lock no longer has")
        if not pin.hashes:
            problems.append(f"{name}=={pin.version} has no hash")
    return problems


@pytest.mark.parametrize("variant", sorted(LOCKS))
def test_each_lock_pins_exactly_what_pyproject_declares(variant):
    pins = lock(variant)
    assert lock_problems(declared(PYPROJECT, LOCKS[variant]), tools(), pins) == [], (
        "pyproject.toml and the lock disagree: run `make lock`"
    )
    # The torch build each lock was made with (constraints/<variant>.txt) is the one it holds.
    [torch] = re.findall(
        r"^torch==(\S+)$", (ROOT / "constraints" / f"{variant}.txt").read_text(), re.M
    )
    assert pins["torch"].version == torch


def test_the_lock_check_catches_a_changed_added_or_removed_declaration():
    pins = lock("cpu")
    wanted = declared(PYPROJECT, LOCKS["cpu"])
    raised = [Requirement("transformers>=99") if r.name == "transformers" else r for r in wanted]
    added = [*wanted, Requirement("imageio>=2.34")]
    removed = [r for r in wanted if r.name != "numpy"]
    assert lock_problems(raised, tools(), pins) == [
        "transformers>=99 is declared but transformers=="
        + pins["transformers"].version
        + " is locked"
    ]
    assert lock_problems(added, tools(), pins) == ["imageio>=2.34 is declared but not locked"]
    assert lock_problems(removed, tools(), pins) == [
        "numpy is locked as declared by lcm-bot (pyproject.toml) but is not declared"
    ]


def test_the_locks_hold_the_same_versions_and_target_the_tests_python():
    """The image runs what the tests ran, torch's build too: PyPI's, the one beside which PyPI's
    torchvision (spandrel's) imports. Only the dev tools, Ray and what they bring differ."""
    cpu, cuda = lock("cpu"), lock("cuda")
    different = {
        name: (cpu[name].version, cuda[name].version)
        for name in cpu.keys() & cuda.keys()
        if Version(cpu[name].version).public != Version(cuda[name].version).public
    }
    assert different == {}
    for name in ("torch", "torchvision"):
        assert cpu[name].version == cuda[name].version and "+" not in cpu[name].version, name
        assert cpu[name].hashes == cuda[name].hashes, f"{name}: the same files in both locks"
    makefile = (ROOT / "Makefile").read_text("utf-8")
    [python] = re.findall(r"--python-version (\S+)", makefile)
    assert (
        python == f"{sys.version_info.major}.{sys.version_info.minor}" == TARGET["python_version"]
    )


def environment() -> dict[str, str]:
    """What pip says is installed in this interpreter's environment, pip itself included."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    installed = {}
    for line in frozen.splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            installed[canonicalize_name(name)] = version.strip()
    installed.pop("lcm-bot", None)  # the project itself, installed from the working tree
    return installed


def environment_problems(installed: dict[str, str], pins: dict[str, Pin]) -> list[str]:
    problems = [f"{name} is installed but not locked" for name in installed.keys() - pins.keys()]
    problems += [f"{name} is locked but not installed" for name in pins.keys() - installed.keys()]
    problems += [
        f"{name}=={installed[name]} is installed, {name}=={pins[name].version} is locked"
        for name in installed.keys() & pins.keys()
        if installed[name] != pins[name].version
    ]
    return sorted(problems)


def test_the_environment_holds_exactly_the_cpu_lock():
    assert environment_problems(environment(), lock("cpu")) == [], (
        "this environment is not requirements/cpu.txt: `make test` installs it"
    )


def test_the_environment_check_catches_a_changed_missing_or_extra_package():
    pins = lock("cpu")
    installed = {name: pin.version for name, pin in pins.items()}
    installed["numpy"] = "1.26.4"
    del installed["pillow"]
    installed["imageio"] = "2.38.1"
    assert environment_problems(installed, pins) == [
        "imageio is installed but not locked",
        f"numpy==1.26.4 is installed, numpy=={pins['numpy'].version} is locked",
        "pillow is locked but not installed",
    ]


def test_the_cpu_lock_holds_everything_its_packages_require():
    """Every requirement, extras included, from pyproject down, is locked at a fitting version;
    read from the installed packages' own metadata (the environment is the lock, see above)."""
    pins = lock("cpu")
    problems, reached = [], set()
    todo = [(r, "pyproject.toml") for r in declared(PYPROJECT, LOCKS["cpu"]) + tools()]
    while todo:
        requirement, parent = todo.pop()
        name = canonicalize_name(requirement.name)
        pin = pins.get(name)
        if pin is None or not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{parent} needs {requirement}, locked: {pin and pin.version}")
            continue
        extras = requirement.extras or {""}
        if (name, frozenset(extras)) in reached:
            continue
        reached.add((name, frozenset(extras)))
        if metadata.version(name) != pin.version:
            problems.append(f"{name}: the installed metadata is not the locked version's")
        for line in metadata.requires(name) or []:
            needed = Requirement(line)
            if not needed.marker or any(needed.marker.evaluate({"extra": e}) for e in extras):
                todo.append((needed, name))
    assert problems == []
    assert pins.keys() - {name for name, _ in reached} == set(), "locked but needed by nothing"


# --------------------------------------------------------------------------- imports


def imported_modules(root: Path) -> set[str]:
    """Top-level names of the absolute imports in the three packages, stdlib and own excluded."""
    names = set()
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.partition(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - set(PACKAGES)


def import_problems(
    modules: set[str], runtime: set[str], providers: dict[str, list[str]]
) -> list[str]:
    """Imported but undeclared, and declared but neither imported nor loaded by name."""
    problems, used = [], set()
    for module in sorted(modules):
        distributions = {canonicalize_name(d) for d in providers.get(module, [])}
        if not distributions:
            problems.append(f"{module} is imported but no installed distribution provides it")
        elif not distributions & runtime:
            problems.append(f"{module} is imported but {sorted(distributions)} is not declared")
        used |= distributions & runtime
    for name in sorted(runtime - used):
        if name not in LOADED_BY_NAME:
            problems.append(f"{name} is declared but never imported")
    for name in sorted(used & LOADED_BY_NAME.keys()):
        problems.append(f"{name} is imported: drop it from LOADED_BY_NAME")
    return problems


def runtime_names(pyproject: dict) -> set[str]:
    return {canonicalize_name(r.name) for r in declared(pyproject, ("postgres", "ray"))}


def test_the_code_imports_exactly_what_pyproject_declares():
    problems = import_problems(
        imported_modules(ROOT), runtime_names(PYPROJECT), metadata.packages_distributions()
    )
    assert problems == []


def test_what_is_loaded_by_name_is_named_where_it_is_loaded():
    engine = (ROOT / "storage" / "engine.py").read_text("utf-8")
    assert '"sqlite+aiosqlite"' in engine and '"postgresql+asyncpg"' in engine
    diffusers_needs = {
        canonicalize_name(Requirement(r).name) for r in metadata.requires("diffusers")
    }
    assert "accelerate" in diffusers_needs
    assert LOADED_BY_NAME.keys() <= runtime_names(PYPROJECT)


def test_the_import_check_catches_an_undeclared_import_and_an_unused_declaration():
    providers = metadata.packages_distributions()
    modules = imported_modules(ROOT)
    runtime = runtime_names(PYPROJECT)
    assert import_problems(modules | {"yaml"}, runtime, providers) == [
        "yaml is imported but ['pyyaml'] is not declared"
    ]
    assert import_problems(modules, runtime | {"imageio"}, providers) == [
        "imageio is declared but never imported"
    ]
    assert import_problems(modules, runtime - {"numpy"}, providers) == [
        "numpy is imported but ['numpy'] is not declared"
    ]
