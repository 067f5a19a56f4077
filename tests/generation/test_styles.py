"""The operator's style allow-list: parsing, and refusals that name the style and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generation.errors import InvalidInput, ModelUnavailable
from generation.models.styles import StyleLibrary, parse_style_option


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "styles.toml"
    path.write_text(body)
    return path


def test_a_valid_allow_list_resolves_local_paths_and_keeps_hub_ids(tmp_path):
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "ink.safetensors").write_bytes(b"x")
    path = write(
        tmp_path,
        """
[styles.ink]
source = "loras/ink.safetensors"
default_weight = 0.6
trigger_words = ["ink drawing", "sketch"]
description = "pen and ink"

[styles.pixel-xl]
source = "nerijs/pixel-art-xl"
weight_name = "pixel-art-xl.safetensors"
architecture = "sdxl"
""",
    )
    library = StyleLibrary.load(path)
    ink = library.get("ink")
    assert ink.source == str(tmp_path / "loras" / "ink.safetensors")
    assert (ink.default_weight, ink.trigger_words, ink.architecture) == (
        0.6,
        ("ink drawing", "sketch"),
        "sd",
    )
    pixel = library.get("pixel-xl")
    assert (pixel.source, pixel.weight_name) == ("nerijs/pixel-art-xl", "pixel-art-xl.safetensors")
    assert [s.name for s in library.for_architecture("sdxl")] == ["pixel-xl"]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('[styles.a]\nsource = "w.ckpt"\n', "not a .safetensors file"),
        ('[styles.a]\nsource = "o/r"\nweight_name = "model.bin"\n', "pickled weights"),
        ('[styles.a]\nsource = "missing.safetensors"\n', "does not exist"),
        ('[styles."../up"]\nsource = "o/r"\n', "names are 1–32 characters"),
        ('[styles.a]\nsource = "o/r"\ndefault_weight = 7\n', "default_weight"),
        ('[styles.a]\nsource = "o/r"\narchitecture = "flux"\n', "architecture"),
        ('[styles.a]\nsource = "not a repo"\n', "neither an existing path nor a hub repo id"),
        ('[styles.a]\ntrigger_words = "x"\nsource = "o/r"\n', "trigger_words"),
        ("[styles\n", "not valid TOML"),
    ],
)
def test_bad_entries_are_refused_with_the_style_and_field(tmp_path, body, complaint):
    (tmp_path / "w.ckpt").write_bytes(b"pickle")
    with pytest.raises(ModelUnavailable, match=complaint):
        StyleLibrary.load(write(tmp_path, body))


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ModelUnavailable, match="does not exist"):
        StyleLibrary.load(tmp_path / "absent.toml")


def test_style_option_parsing():
    assert parse_style_option("ink") == ("ink", None)
    assert parse_style_option("ink:0.4") == ("ink", 0.4)
    with pytest.raises(InvalidInput, match=re.escape("NAME:0.8")):
        parse_style_option("ink:strong")
