"""Quieting the model libraries keeps the hub's download bars: a first start needs them."""

from __future__ import annotations

from generation.models.library_logs import quiet_model_libraries


def test_hub_download_bars_stay_on_after_the_libraries_are_quieted(monkeypatch):
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    try:
        quiet_model_libraries()
        assert not are_progress_bars_disabled()
    finally:
        enable_progress_bars()


def test_an_operator_can_still_turn_them_off(monkeypatch):
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        quiet_model_libraries()
        assert are_progress_bars_disabled()
    finally:
        enable_progress_bars()
