"""Shared fixtures: the offline tiny families, loaded once per test session."""

from __future__ import annotations

import os

# The tiny families never touch a hub; make sure nothing in a test tries to either.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
