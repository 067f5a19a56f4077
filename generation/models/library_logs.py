"""Quiet the model libraries' chatter (load bars, harmless LoRA notices) for operators."""

from __future__ import annotations

import logging
import os


def quiet_model_libraries() -> None:
    """Keep warnings that matter; drop per-load progress bars and info-level notices.

    Hub download bars are left alone: on a first start they are the only sign of progress.
    """
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    _drop(
        "diffusers.models.modeling_utils",
        # Logged at ERROR just before the same error is raised, which the caller reports once.
        "An error occurred while trying to fetch ",
    )
    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    # transformers' switch also turns off huggingface_hub's download bars; a first start downloads
    # gigabytes, so those come back on (an operator's HF_HUB_DISABLE_PROGRESS_BARS=1 still wins).
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() not in ("1", "true", "yes", "on"):
        from huggingface_hub.utils import enable_progress_bars

        enable_progress_bars()


class _DropByPrefix(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def _drop(logger_name: str, prefix: str) -> None:
    """Drop one logger's records that start with ``prefix``; the logger's others stay."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _DropByPrefix) and f.prefix == prefix for f in logger.filters):
        logger.addFilter(_DropByPrefix(prefix))
