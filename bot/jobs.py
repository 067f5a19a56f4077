"""JobService: journal a job, submit it to the engine, and carry its events to Discord."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import discord

from bot.delivery_targets import ChannelTarget, InteractionTarget
from bot.job_parameters import journal_parameters
from bot.logs import bind_log_context
from bot.mod_log_entries import log_picture
from bot.render import queued_text, rendering_text, result_caption
from bot.result_files import build_result_files
from bot.status_throttle import StatusThrottle
from generation.engine import Engine
from generation.engine.events import (
    JobCancelled,
    JobFailed,
    JobFinished,
    JobInterrupted,
    JobProgress,
    JobQueued,
    JobSpec,
    JobStarted,
)
from generation.modes.requests import GenerationRequest, GenerationResult
from storage.database import Database
from storage.models import NsfwPolicy

log = logging.getLogger(__name__)


def held_text(job_id: int) -> str:
    return (
        f"⏸️ The bot is restarting. Job {job_id} is saved and runs as soon as it is back; "
        "the result is posted in this channel."
    )


Target = InteractionTarget | ChannelTarget


@dataclass(frozen=True)
class JobContext:
    """Who asked, where, under which policy; everything delivery needs besides the request."""

    user_id: int
    guild_id: int | None
    channel_id: int
    command: str
    channel_nsfw: bool = False
    nsfw_policy: NsfwPolicy = NsfwPolicy.BLOCK
    upload_limit: int = 10 * 1024 * 1024
    sources: Mapping[str, str] = field(default_factory=dict)
    # Style name → where it and its weight came from ("option; default weight"), for the caption.
    style_origins: Mapping[str, str] = field(default_factory=dict)
    parent_id: int | None = None

    @property
    def wants_safety_check(self) -> bool:
        return self.nsfw_policy is NsfwPolicy.BLOCK or not self.channel_nsfw

    @property
    def flagged_handling(self) -> str:
        """What happens to a picture the safety check flagged, in this channel."""
        if self.channel_nsfw:
            return "block" if self.nsfw_policy is NsfwPolicy.BLOCK else "allow"
        return "spoiler" if self.nsfw_policy is NsfwPolicy.SPOILER else "block"


class JobService:
    """The bot's one way to run a job: journal first, then the engine, then delivery."""

    def __init__(
        self,
        engine: Engine,
        database: Database,
        *,
        # (job id, animation?, pictures posted, edge map?) → the buttons under the result
        view_for: Callable[[int, bool, int, bool], discord.ui.View | None],
        status_interval_s: float = 1.0,
        # Told of every result posted (the moderators' log): (job id, context, result, where,
        # the picture for its thumbnail (log_picture) or None, how many pictures were withheld).
        on_posted: Callable[..., Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.database = database
        self._view_for = view_for
        self._on_posted = on_posted
        self._status_interval_s = status_interval_s
        self._tasks: dict[int, asyncio.Task] = {}
        # Set by a graceful stop: accepted jobs are journaled and kept for the next start.
        self.stopping = False
        self._admissions = 0
        self._admitted = asyncio.Event()
        self._admitted.set()

    @contextlib.contextmanager
    def admission(self):
        """Mark a command's admission (defer → journal) in progress, so a stop can wait for it."""
        self._admissions += 1
        self._admitted.clear()
        try:
            yield
        finally:
            self._admissions -= 1
            if not self._admissions:
                self._admitted.set()

    async def wait_admissions(self, timeout_s: float) -> bool:
        """Wait for admissions in progress to end; False if some were still going."""
        try:
            await asyncio.wait_for(self._admitted.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def start(
        self,
        request: GenerationRequest,
        context: JobContext,
        target: Target,
        *,
        inputs: Mapping[str, bytes] | None = None,
    ) -> int:
        """Journal and submit a validated request; returns the job id.

        Raises what the engine refuses with (QueueFull, InvalidInput, EngineStopped); the journal
        row is then removed again, since nothing was accepted.
        """
        job = await journal_job(self.database, request, context, inputs)
        if self.stopping:
            # Acknowledged while the bot stops: keep it in the journal for the next start.
            log.info("job %s journaled during a stop; it runs after the restart", job.id)
            await target.show_status(held_text(job.id))
            return job.id
        try:
            self.resume(job.id, request, context, target, within_caps=True)
        except Exception:
            await self.database.jobs.delete(job.id)
            raise
        log.info(
            "job %s accepted: %s, %d image(s)",
            job.id,
            request.mode,
            request.count,
            extra={"job_id": job.id},
        )
        return job.id

    def resume(
        self,
        job_id: int,
        request: GenerationRequest,
        context: JobContext,
        target: Target,
        *,
        within_caps: bool = False,
    ) -> None:
        """Submit an already-journaled job (new, or recovered after a restart).

        A recovered job was accepted before the restart, so it skips the queue caps (a crash
        turns a user's running job back into a queued one, one more than the cap allows);
        ``start`` asks for ``within_caps`` for new jobs.
        """
        spec = JobSpec(str(job_id), context.user_id, context.guild_id, request)
        handle = self.engine.submit(spec, enforce_caps=within_caps)
        task = asyncio.create_task(self._deliver(job_id, handle, context, target))
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    def in_flight(self) -> int:
        """Accepted jobs whose delivery has not ended yet."""
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Wait until every delivery in flight is done (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def _deliver(self, job_id: int, handle, context: JobContext, target: Target) -> None:
        # This task's log lines (and discord.py's, made on its behalf) carry the job's ids.
        bind_log_context(
            job_id=job_id,
            user_id=context.user_id,
            guild_id=context.guild_id,
            channel_id=context.channel_id,
            command=context.command,
        )
        status = StatusThrottle(target.show_status, interval_s=self._status_interval_s)
        try:
            async for event in handle:
                if isinstance(event, JobQueued):
                    status.set(queued_text(event.position))
                elif isinstance(event, JobStarted):
                    log.info(
                        "job %s started (batch of %d, waited %.2f s)",
                        job_id,
                        event.batch_size,
                        event.waited_s,
                    )
                    await self.database.jobs.start(job_id)
                    status.set(rendering_text())
                elif isinstance(event, JobProgress):
                    status.set(rendering_text(event.step, event.total))
                elif isinstance(event, JobFinished):
                    await status.stop()
                    log.info("job %s finished in %.2f s", job_id, event.ran_s)
                    await self._post_result(job_id, event.result, context, target)
                elif isinstance(event, JobFailed):
                    await status.stop()
                    log.warning("job %s failed: %s", job_id, event.reason)
                    await self.database.jobs.fail(job_id, event.reason)
                    await target.notify(f"❌ Job {job_id} failed: {event.reason}")
                elif isinstance(event, JobInterrupted):
                    # A graceful stop: the job stays in the journal and runs after the restart.
                    await status.stop()
                    if event.was_running:
                        await self.database.jobs.requeue(job_id)
                    log.info("job %s kept for the next start", job_id)
                    await target.show_status(held_text(job_id))
                elif isinstance(event, JobCancelled):
                    await status.stop()
                    log.info("job %s cancelled", job_id)
                    await self.database.jobs.cancel(job_id)
                    await target.notify(f"🛑 Job {job_id} was cancelled.")
        except Exception as exc:
            log.exception("delivering job %s failed", job_id)
            # Nobody takes this job's events any more: stop the engine spending the GPU on it.
            # First, since recording the failure may fail the same way.
            if handle.cancel():
                log.warning("job %s cancelled in the engine: its delivery failed", job_id)
            await self.database.jobs.fail(job_id, f"the result could not be delivered: {exc}")
        finally:
            await status.stop()

    async def _post_result(
        self, job_id: int, result: GenerationResult, context: JobContext, target: Target
    ) -> None:
        # PNG/GIF encoding takes real CPU time: keep it off the event loop.
        files = await asyncio.to_thread(
            build_result_files,
            result,
            limit_bytes=context.upload_limit,
            flagged=context.flagged_handling,
        )
        notes = []
        if files.blocked:
            notes.append(f"🚫 {files.blocked} image(s) withheld by this server's safety policy.")
        if files.spoilered:
            notes.append(f"🙈 {files.spoilered} image(s) behind a spoiler (safety policy).")
        caption = job_caption(job_id, result, context, notes)
        if not files.files:  # everything was blocked: a notice, never the picture
            await target.notify(caption)
            await self.database.jobs.fail(job_id, "blocked by the server's safety policy")
            return
        pictures = sum(not f.filename.startswith(("edges", "SPOILER_edges")) for f in files.files)
        edges = result.control_image is not None
        view = self._view_for(job_id, bool(result.animations), pictures, edges)
        posted = await target.post(caption, files=files.files, view=view)
        if self._on_posted is not None:
            # By the job's flags, as for a picture shown in place (never by file names).
            shown = await asyncio.to_thread(log_picture, result, context.channel_nsfw)
            await self._on_posted(job_id, context, result, posted, shown, files.blocked)
        await self.database.jobs.finish(
            job_id,
            result_channel_id=posted.channel_id,
            result_message_id=posted.message_id,
            flagged_seeds=flagged_seeds(result),
        )


def flagged_seeds(result: GenerationResult) -> list[int] | None:
    """The seeds of the pictures the safety check flagged; None when no check ran."""
    if result.nsfw is None:
        return None
    return [seed for seed, flagged in zip(result.seeds, result.nsfw, strict=False) if flagged]


async def journal_job(
    database: Database,
    request: GenerationRequest,
    context: JobContext,
    inputs: Mapping[str, bytes] | None,
):
    """Write an accepted job into the journal as queued, with its uploads; before submitting."""
    return await database.jobs.record(
        user_id=context.user_id,
        channel_id=context.channel_id,
        guild_id=context.guild_id,
        command=context.command,
        parameters=journal_parameters(request),
        seeds=list(request.image_seeds()),
        parent_id=context.parent_id,
        inputs=inputs,
    )


def job_caption(
    job_id: int, result: GenerationResult, context: JobContext, notes: list[str]
) -> str:
    """A result's caption: its parameters, seeds, where each value came from, and ``notes``."""
    return result_caption(
        journal_parameters(result.request),
        seeds=result.seeds,
        sources=context.sources,
        style_origins=context.style_origins,
        job_id=job_id,
        warnings=result.warnings,
        notes=notes,
    )
