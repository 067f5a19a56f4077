"""Before pip installs a lock: uninstall what the lock does not pin, and builds pip would keep."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess
import sys
from pathlib import Path

# The project itself is installed from the working tree, not from the lock.
PROJECT = "lcm-bot"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    pattern = r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)"
    return {canonical(m[1]): m[2] for m in re.finditer(pattern, lock.read_text(), re.M)}


def installed() -> dict[str, str]:
    return {canonical(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}


def to_remove(have: dict[str, str], want: dict[str, str]) -> list[str]:
    # Left by a re-lock that dropped it, or by the other lock (cpu <-> cuda) in this venv.
    unlisted = have.keys() - want.keys() - {PROJECT}
    # torch 2.13.0+cpu satisfies `torch==2.13.0` for pip (PEP 440 ignores the local label), so
    # pip would keep the CPU build where the CUDA lock wants PyPI's: remove it first. (Plain string
    # work: a fresh venv has no `packaging` to import.)
    other_build = {
        name
        for name in have.keys() & want.keys()
        if have[name] != want[name] and have[name].split("+")[0] == want[name].split("+")[0]
    }
    return sorted(unlisted | other_build)


def main(lock: str) -> int:
    remove = to_remove(installed(), pins(Path(lock)))
    if remove:
        print(f"not as {lock} pins them, uninstalling: {' '.join(remove)}")
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", *remove], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
