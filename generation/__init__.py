"""lcm-bot generation core: model families, LCM pipelines, image I/O (and soon the GPU engine)."""
