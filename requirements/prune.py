"""Uninstall from this Python's environment every distribution that the given lock does not pin."""

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


def locked_names(lock: Path) -> set[str]:
    return {
        canonical(match[1])
        for match in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock.read_text(), re.M)
    }


def installed_names() -> set[str]:
    return {canonical(dist.metadata["Name"]) for dist in metadata.distributions()}


def main(lock: str) -> int:
    extra = sorted(installed_names() - locked_names(Path(lock)) - {PROJECT})
    if extra:
        # A package dropped by a re-lock, or left by the other lock (cpu <-> cuda) in this venv.
        print(f"not in {lock}, uninstalling: {' '.join(extra)}")
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", *extra], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
