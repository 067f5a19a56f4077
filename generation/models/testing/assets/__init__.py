"""Bundled data files (the CLIP merge list the tiny families' tokenizer is built from)."""
