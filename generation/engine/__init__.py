"""The engine room: fair queue, scheduler, workers (process, actor), handles, events, metrics."""

from generation.engine.scheduler import BatchRunner, Engine, EngineConfig

__all__ = ["BatchRunner", "Engine", "EngineConfig"]
