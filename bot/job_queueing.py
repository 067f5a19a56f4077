"""Journal validated requests, then queue them in the engine, all or none (callers deliver)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.jobs import JobContext, journal_job
from generation.engine import Engine
from generation.engine.events import JobSpec
from generation.engine.job_handle import JobHandle
from generation.modes.requests import GenerationRequest
from storage.database import Database


@dataclass(frozen=True)
class Admitted:
    """One accepted job: its journal id, the engine's handle, and what delivery needs."""

    job_id: int
    handle: JobHandle
    request: GenerationRequest
    context: JobContext


async def queue_jobs(
    database: Database,
    engine: Engine,
    built: Sequence[tuple[GenerationRequest, dict[str, bytes], JobContext]],
    *,
    coalesce_key: str | None = None,
) -> list[Admitted]:
    """Journal every job (status queued) before any is submitted, then submit them in order.

    The first job meets the per-user queue cap like any job; the rest ride with it (a sweep
    counts as one admission but each cell pays its own cost in the fair queue). On any refusal
    nothing stays: handles are cancelled and journal rows deleted.
    """
    job_ids: list[int] = []
    admitted: list[Admitted] = []
    try:
        for request, stored, context in built:
            job_ids.append((await journal_job(database, request, context, stored)).id)
        for index, ((request, _, context), job_id) in enumerate(zip(built, job_ids, strict=True)):
            spec = JobSpec(str(job_id), context.user_id, context.guild_id, request, coalesce_key)
            handle = engine.submit(spec, enforce_caps=index == 0)
            admitted.append(Admitted(job_id, handle, request, context))
    except BaseException:
        for done in admitted:
            done.handle.cancel()
        for job_id in job_ids:
            await database.jobs.delete(job_id)
        raise
    return admitted
