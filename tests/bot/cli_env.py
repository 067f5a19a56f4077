"""A clean environment for the console script: nothing from this machine's setup leaks in."""

from __future__ import annotations

import os
from pathlib import Path


def clean_env(folder: Path, **settings: str) -> dict[str, str]:
    """PATH only, plus a home, hub cache, tiny-family cache and SQLite file under `folder`.

    The tiny family is named but not built: `doctor` only looks, and a refusal never gets there.
    """
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "HF_HOME": str(folder / "hf"),
        "LCM_MODEL": "tiny",
        "LCM_TINY_CACHE": str(folder / "tiny"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'lcm.sqlite3'}",
        "LCM_HTTP_PORT": "0",
        **settings,
    }
