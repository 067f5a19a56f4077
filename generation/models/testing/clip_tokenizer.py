"""Rebuild the real SD/CLIP BPE tokenizer files offline from OpenAI CLIP's published merge list."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

# OpenAI CLIP's merge file as shipped in open_clip (MIT licence, see assets/README.md).
_BPE_ASSET = "bpe_simple_vocab_16e6.txt.gz"
# CLIP keeps the first 49152 - 256 - 2 merges: 256 byte tokens and 2 specials complete the vocab.
_MERGE_COUNT = 49152 - 256 - 2


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    """The byte → printable-character table every GPT-2/CLIP byte-level BPE uses."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def write_clip_tokenizer_files(directory: Path) -> tuple[Path, Path]:
    """Write ``vocab.json`` and ``merges.txt`` equal to SD1.5's tokenizer into ``directory``."""
    raw = resources.files("generation.models.testing.assets").joinpath(_BPE_ASSET).read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _MERGE_COUNT + 1]]
    byte_tokens = list(_bytes_to_unicode().values())
    vocab = byte_tokens + [token + "</w>" for token in byte_tokens]
    vocab += ["".join(merge) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    directory.mkdir(parents=True, exist_ok=True)
    vocab_path = directory / "vocab.json"
    merges_path = directory / "merges.txt"
    vocab_path.write_text(json.dumps({token: i for i, token in enumerate(vocab)}), "utf-8")
    merges_path.write_text(
        "#version: 0.2\n" + "\n".join(" ".join(merge) for merge in merges) + "\n", "utf-8"
    )
    return vocab_path, merges_path
