"""LCM_BASE: an operator runs a family's recipe on a fine-tuned base of their choice."""

from __future__ import annotations

import shutil

from bot.cli import main as lcm_bot_main
from bot.settings import Settings


def test_lcm_base_points_the_family_at_another_base(tmp_path, monkeypatch, tiny_family, capsys):
    fine_tune = tmp_path / "my-fine-tune"
    shutil.copytree(tiny_family.base, fine_tune)
    monkeypatch.setenv("LCM_BASE", str(fine_tune))
    assert Settings(_env_file=None).model_overrides() == {"base": str(fine_tune)}
    out = tmp_path / "out"
    args = ["generate", "a boat", "--model", "tiny", "--seed", "1", "--out", str(out)]
    assert lcm_bot_main(args) == 0, capsys.readouterr().err
    assert (out / "txt2img-1.png").is_file()

    # The fine-tune really is what loads: a broken one fails, naming the folder.
    shutil.rmtree(fine_tune / "unet")
    assert lcm_bot_main([*args[:-1], str(tmp_path / "again")]) != 0
    assert str(fine_tune) in capsys.readouterr().err


def test_no_lcm_base_keeps_the_familys_own(monkeypatch):
    monkeypatch.delenv("LCM_BASE", raising=False)
    assert Settings(_env_file=None).model_overrides() == {}
