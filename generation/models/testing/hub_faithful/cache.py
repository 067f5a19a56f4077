"""Lay the built repositories out as a Hugging Face hub cache (blobs, snapshots, refs, trees)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from generation.models.testing.hub_faithful.manifest import load_manifests
from generation.models.testing.tiny_models import build_once, cache_root

# Bump when a manifest, a shrunk size or the seeding changes, so stale caches are rebuilt.
HUB_FAITHFUL_VERSION = 3
# Weight files live in git LFS on the hub; the cache names their blobs by sha256, the others by
# their git blob sha1, as huggingface_hub does with the etag it receives.
_LFS_FORMATS = ("safetensors", "pickle")
_LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"


def ensure_hub_cache() -> Path:
    """The HF_HOME folder with every hub-faithful repository, built once (process-safe)."""
    return build_once(f"hub-faithful-v{HUB_FAITHFUL_VERSION}", build_hub_cache)


def hub_home_path() -> Path:
    """Where :func:`ensure_hub_cache` builds, without building."""
    return cache_root() / f"hub-faithful-v{HUB_FAITHFUL_VERSION}"


def repo_folder(home: Path, hub_id: str) -> Path:
    """``HF_HOME/hub/models--org--name``: one repository's cache folder."""
    return home / "hub" / ("models--" + hub_id.replace("/", "--"))


def snapshot_folder(home: Path, hub_id: str) -> Path:
    repo = repo_folder(home, hub_id)
    return repo / "snapshots" / (repo / "refs" / "main").read_text().strip()


def build_hub_cache(home: Path) -> None:
    """Build every manifest's repository and place it in the cache under ``home/hub``."""
    from generation.models.testing.hub_faithful.repos import build_repo

    for hub_id, manifest in load_manifests().items():
        with tempfile.TemporaryDirectory(prefix="hub-faithful-") as scratch:
            staged = Path(scratch) / "repo"
            build_repo(staged, manifest)
            lfs = {f["path"] for f in manifest["files"] if f["format"] in _LFS_FORMATS}
            place_in_cache(home, hub_id, staged, lfs)


def place_in_cache(home: Path, hub_id: str, staged: Path, lfs: set[str]) -> str:
    """Move ``staged``'s files into the cache as blobs with snapshot links; return the commit.

    ``lfs`` names the files the hub keeps in git LFS (the weights).
    """
    repo = repo_folder(home, hub_id)
    files = sorted(p for p in staged.rglob("*") if p.is_file())
    entries, blobs = {}, {}
    commit = hashlib.sha1(f"hub-faithful {hub_id}\n".encode())
    for path in files:
        relative = path.relative_to(staged).as_posix()
        data = path.read_bytes()
        git_sha = _git_blob_sha1(data)
        entry = {"size": len(data), "blob_id": git_sha}
        if relative in lfs:
            sha256 = hashlib.sha256(data).hexdigest()
            pointer = _LFS_POINTER.format(sha256=sha256, size=len(data))
            entry = {
                "size": len(data),
                "blob_id": _git_blob_sha1(pointer.encode()),
                "lfs_sha256": sha256,
                "lfs_size": len(data),
            }
            blobs[relative] = (sha256, path)
        else:
            blobs[relative] = (git_sha, path)
        entries[relative] = entry
        commit.update(f"{relative} {entry['blob_id']}\n".encode())
    revision = commit.hexdigest()
    snapshot = repo / "snapshots" / revision
    for relative, (blob_name, path) in blobs.items():
        blob = repo / "blobs" / blob_name
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.move(str(path), blob)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)  # the hub client writes it without a newline
    # The tree listing huggingface_hub caches after a snapshot download (format_version 1).
    trees = repo / "trees"
    trees.mkdir(parents=True, exist_ok=True)
    listing = {"format_version": 1, "files": {k: entries[k] for k in sorted(entries)}}
    (trees / f"{revision}.json").write_text(json.dumps(listing, indent=1))
    return revision


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
