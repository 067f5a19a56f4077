"""One line saying why a model's files could not load, and how to fix it, from the real cause."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path


def load_failure(source: str, exc: BaseException) -> str:
    """The cause of a failed ``from_pretrained``/``load_lora_weights`` of ``source``, with its fix.

    diffusers wraps the hub's error in an OSError whose text is about the cache and ends with a
    hint (``local_files_only=False``) that an operator cannot act on; the real cause (a gated or
    missing repository, no hub access, a missing file) is further down the exception chain.
    """
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    chain = list(_chain(exc))

    def find(kind: type | tuple[type, ...]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, kind)), None)

    # Most specific first: the hub's own answer, then the network, then the files.
    page = f"{constants.ENDPOINT}/{source}"
    has_token = _hub_token() is not None
    if find(GatedRepoError):
        if has_token:
            return (
                f"{source} is gated and the hub token in use has no access to it yet: accept "
                f"its conditions at {page} with that token's account (some are approved by hand)"
            )
        return (
            f"{source} is gated and needs a token: accept its conditions at {page} while "
            "logged in, then set HF_TOKEN to a read token of that account"
        )
    if find(RepositoryNotFoundError):
        if has_token:
            return (
                f"{source} is not on the Hugging Face hub, or it is private and the hub token in "
                "use cannot read it: check the id (LCM_MODEL, LCM_BASE) and the token's access"
            )
        return (
            f"{source} is not on the Hugging Face hub, or it is private: check the id "
            "(LCM_MODEL, LCM_BASE); for a private repository set HF_TOKEN to a token that can "
            "read it"
        )
    if find(RevisionNotFoundError):
        return f"{source} has no such revision on the Hugging Face hub: check the id"
    cache = constants.HF_HUB_CACHE
    cache_miss = find(LocalEntryNotFoundError)
    if find(OfflineModeIsEnabled) or (cache_miss and constants.HF_HUB_OFFLINE):
        return (
            f"{source} is not in the model cache ({cache}) and HF_HUB_OFFLINE=1 forbids "
            "downloading it: start once without HF_HUB_OFFLINE (the weights download, with "
            "progress bars), or point HF_HOME at a cache that has them"
        )
    if network := find((ConnectionError, TimeoutError, socket.gaierror)):
        return (
            f"{source} is not in the model cache ({cache}) and the Hugging Face hub cannot be "
            f"reached ({_first_line(network)}): check the network or proxy (HTTPS_PROXY), then "
            "start again, or point HF_HOME at a cache that has the weights"
        )
    if (refused := find(HfHubHTTPError)) and cache_miss:
        return (
            f"{source} is not in the model cache ({cache}) and the Hugging Face hub refused it "
            f"({_first_line(refused)}): try again later"
        )
    if cache_miss:
        return (
            f"{source} is not in the model cache ({cache}) and downloads are off: allow "
            "downloads once, or point HF_HOME at a cache that has the weights"
        )
    if missing := find(EntryNotFoundError):
        return (
            f"{source} lacks a file the model needs ({_first_line(missing)}): check that it is "
            "a diffusers-format repository or folder for this family"
        )
    if isinstance(exc, OSError) and Path(source).expanduser().is_dir():
        # A local folder with a file missing: diffusers' own first line names the file.
        return (
            f"{_first_line(exc)} (from {source}): the folder is incomplete or not in diffusers "
            "format; download it again"
        )
    return f"{source}: {_first_line(exc)}"


def _hub_token() -> str | None:
    """The token huggingface_hub would send (HF_TOKEN, else a saved login); None without one."""
    from huggingface_hub import get_token

    try:
        return get_token()
    except Exception:  # a token source that fails sends none either
        return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it was raised from or while handling, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]


def _first_line(exc: BaseException) -> str:
    """The first informative line: the hub's errors open with a bare "404 Client Error."."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not re.fullmatch(r"\d{3} \w+ Error\.?", line)]
    return (lines[0] if lines else type(exc).__name__).rstrip(".")
