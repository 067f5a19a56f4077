"""The GPU job engine: one fair scheduler in front; workers (process, actor) behind it."""

from generation.engine.scheduler import BatchRunner, Engine, EngineConfig

__all__ = ["BatchRunner", "Engine", "EngineConfig"]
