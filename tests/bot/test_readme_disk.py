"""README's disk-per-family table says what doctor computes, so the two cannot drift apart."""

from __future__ import annotations

from pathlib import Path

from bot.doctor import download_sizes
from generation.models.families import HUB_FAMILIES

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_disk_table() -> dict[str, tuple[str, str]]:
    text = README.read_text("utf-8")
    section = text.split("## Disk per family", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[1] != "first start":
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_the_readme_disk_table_is_doctors_figures_for_every_hub_family():
    expected = {
        name: tuple(f"{gb:.1f}" for gb in download_sizes(family))
        for name, family in HUB_FAMILIES.items()
    }
    assert readme_disk_table() == expected


def test_a_distilled_unet_replaces_its_bases_unet_in_the_download():
    # lcm-sdxl is SDXL's base with the distilled UNet: no bigger than SDXL itself at the start.
    assert download_sizes(HUB_FAMILIES["lcm-sdxl"])[0] <= download_sizes(HUB_FAMILIES["sdxl"])[0]
