"""The GPU job engine: one fair scheduler in front, workers (threads, processes, Ray actors) behind."""

from generation.engine.scheduler import BatchRunner, Engine, EngineConfig

__all__ = ["BatchRunner", "Engine", "EngineConfig"]
