"""Render again in place: each click is a journaled job whose picture edits the clicked message.

A session is one message (a nudge panel, or a /canny result with its edge row). It holds the
parameters the newest click asked for, so quick clicks add up (five "Seed plus" make seed + 5);
each click's job is journaled with the previous click's job as its parent, and queued with the
session's coalesce key, so the engine keeps at most one render of it waiting (latest wins) and
superseded jobs end cancelled in the journal. The buttons carry the id of the job shown, so after
a restart a click starts again from the journal.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.admission import AdmissionService, Draft, interaction_context
from bot.delivery_targets import NO_PINGS, ChannelTarget, PostedMessage
from bot.job_parameters import journal_parameters, upgrade_parameters
from bot.job_queueing import Admitted, queue_jobs
from bot.jobs import job_caption
from bot.nudge_moves import apply_move
from bot.quotas import QuotaTaken
from bot.refusal import Refusal
from bot.result_files import build_result_files
from bot.views import result_view
from generation.engine import Engine
from generation.engine.events import (
    JobCancelled,
    JobFailed,
    JobFinished,
    JobInterrupted,
    JobStarted,
)
from generation.models.families import ModelFamily
from generation.modes import Mode
from storage.database import Database

log = logging.getLogger(__name__)

MAX_SESSIONS = 1000  # the oldest are forgotten; their next click starts again from the journal


@dataclass
class Session:
    """One message being rendered again in place."""

    message_id: int
    parameters: dict[str, Any]  # what the newest click asked for, in the journal's form
    inputs: dict[str, bytes]
    parent_id: int  # the job the next click's job comes from
    clicks: int = 0
    shown: int = 0  # the click whose picture the message shows
    tasks: set[asyncio.Task] = field(default_factory=set)


# (job id, its journal parameters) → the buttons of the edited message.
ViewFor = Callable[[int, dict[str, Any]], discord.ui.View]


class InPlaceRenders:
    """Clicks → coalesced jobs → edits of the clicked message; one admission path for each."""

    def __init__(
        self,
        *,
        admissions: AdmissionService,
        database: Database,
        engine: Engine,
        family: ModelFamily,
    ) -> None:
        self._admissions = admissions
        self._database = database
        self._engine = engine
        self._family = family
        self._sessions: OrderedDict[int, Session] = OrderedDict()
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()

    async def wait_idle(self) -> None:
        """Wait until every render in flight has edited its message (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def click(
        self,
        interaction: discord.Interaction,
        move: str,
        job_id: int,
        image: int | None,
        *,
        view_for: ViewFor,
    ) -> None:
        """Apply ``move`` to the session of the clicked message and render it again there."""
        # Acknowledge at once as "the message will be edited": no new message, no spinner.
        await interaction.response.defer()
        # One click of a message at a time, in the order they came: the newest click is then
        # the last queued, so latest wins in the engine means latest wins for the user.
        lock = self._locks.setdefault(interaction.message.id, asyncio.Lock())
        async with lock:
            await self._click(interaction, move, job_id, image, view_for)

    async def _click(self, interaction, move, job_id, image, view_for) -> None:
        what = move.replace("-", " ").capitalize()
        try:
            session = await self._session(interaction.message.id, job_id, image)
            parameters = apply_move(session.parameters, move, self._family)
        except Exception as exc:
            await self._admissions.answer_failure(interaction, what, exc)
            return
        click = session.clicks + 1
        admitted: list[Admitted] = []
        taken: list[QuotaTaken | None] = []

        async def draft_for(guild) -> Draft:
            context = interaction_context(
                interaction, guild, f"button:{move}", parent_id=session.parent_id
            )
            mode = Mode(parameters["mode"])
            return Draft(
                mode,
                str(parameters["prompt"]),
                parameters,
                context,
                inputs=session.inputs,
                seed=int(parameters["seed"]),
            )

        async def submit(request, context, stored, images: QuotaTaken | None) -> int:
            key = f"in-place:{session.message_id}"  # latest wins within this message
            jobs = [(request, stored, context)]
            admitted.extend(await queue_jobs(self._database, self._engine, jobs, coalesce_key=key))
            taken.append(images)
            return admitted[0].job_id

        def replaces_waiting() -> bool:
            # The session's newest job, if still waiting, holds its coalesce key: this click's
            # job takes its place. If it starts before this one is queued, the click adds one
            # waiting job and removes one: the user's count never grows past what was checked.
            waiting = self._engine.waiting_jobs(interaction.user.id)
            return str(session.parent_id) in {job_id for job_id, _ in waiting}

        # Unpaced: the coalesce key keeps one render of this message waiting, at most; a click
        # that adds one (a second panel) is still within the member's queue cap.
        new_id = await self._admissions.admit(
            interaction,
            what,
            draft_for,
            submit=submit,
            paced=False,
            replaces_waiting=replaces_waiting,
        )
        if new_id is None:
            return  # refused (the user was told privately): the session stays as it was
        session.parameters, session.clicks, session.parent_id = parameters, click, new_id
        task = asyncio.create_task(
            self._follow(session, click, admitted[0], interaction, view_for, taken[0])
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session(self, message_id: int, job_id: int, image: int | None) -> Session:
        session = self._sessions.get(message_id)
        if session is not None:
            self._sessions.move_to_end(message_id)
            return session
        job = await self._database.jobs.get(job_id)
        if job is None:
            raise Refusal(
                f"Job {job_id} is no longer in the history (it was deleted or expired), "
                "so there is nothing to start from."
            )
        parameters = upgrade_parameters(job.parameters)
        if image is not None:  # one picture of several: its own seed, alone
            seeds = job.seeds or [parameters["seed"]]
            parameters["seed"] = int(seeds[min(image, len(seeds)) - 1])
            parameters["count"] = 1
        inputs = await self._database.jobs.inputs(job_id)
        session = Session(message_id, parameters, inputs, parent_id=job_id)
        self._sessions[message_id] = session
        while len(self._sessions) > MAX_SESSIONS:
            old, _ = self._sessions.popitem(last=False)
            if old in self._locks and not self._locks[old].locked():
                del self._locks[old]
        return session

    async def _follow(
        self,
        session: Session,
        click: int,
        admitted: Admitted,
        interaction: discord.Interaction,
        view_for: ViewFor,
        images: QuotaTaken | None = None,
    ) -> None:
        """One click's job: into the journal, and its picture into the message if still newest."""
        journal, job_id = self._database.jobs, admitted.job_id
        try:
            async for event in admitted.handle:
                if isinstance(event, JobStarted):
                    await journal.start(job_id)
                elif isinstance(event, JobFinished):
                    where = (interaction.channel_id, interaction.message.id)
                    if click > session.shown:  # a newer click's picture is never replaced
                        session.shown = click
                        where = await self._show(job_id, event, admitted, interaction, view_for)
                        if where[1] != interaction.message.id or not _private(interaction):
                            # Public now (the canny loop, a panel past its token): an entry.
                            await interaction.client.mod_log.render_posted(
                                job_id, admitted.context, event.result, PostedMessage(*where)
                            )
                    await journal.finish(
                        job_id, result_channel_id=where[0], result_message_id=where[1]
                    )
                elif isinstance(event, JobCancelled):
                    # Superseded: a newer click of this message took its place in the queue.
                    # It never reached the GPU: its images go back to the day's quota.
                    if event.superseded and images is not None:
                        await images.release()
                    await journal.cancel(job_id)
                elif isinstance(event, JobFailed):
                    await journal.fail(job_id, event.reason)
                    await _tell(interaction, f"❌ Job {job_id} failed: {event.reason}")
                elif isinstance(event, JobInterrupted) and event.was_running:
                    # A graceful stop: the journal keeps it; it is posted after the restart.
                    await journal.requeue(job_id)
        except Exception as exc:
            log.exception("the in-place render of job %s could not be shown", job_id)
            if admitted.handle.cancel():
                log.warning("job %s cancelled in the engine: its message cannot be edited", job_id)
            await journal.fail(job_id, f"the result could not be shown: {exc}")

    async def _show(
        self, job_id, event: JobFinished, admitted, interaction, view_for
    ) -> tuple[int, int]:
        """Edit the clicked message to show the new picture; (channel id, message id) of it."""
        result, context = event.result, admitted.context
        files = await asyncio.to_thread(
            build_result_files,
            result,
            limit_bytes=context.upload_limit,
            flagged=context.flagged_handling,
        )
        notes = [] if files.files else ["🚫 Withheld by this server's safety policy."]
        caption = job_caption(job_id, result, context, notes)
        view = view_for(job_id, journal_parameters(result.request))
        message = interaction.message
        edit = dict(content=caption, attachments=files.files, view=view, allowed_mentions=NO_PINGS)
        try:
            await interaction.edit_original_response(**edit)
            return interaction.channel_id, message.id
        except discord.HTTPException as exc:
            if not _token_expired(exc):
                raise
        for file in files.files:
            file.reset()  # the failed attempt may have read them
        # A render that outlived the click's 15-minute token (a long queue): the bot still edits
        # its own public message through the channel; a private panel it cannot, so the picture
        # is posted in the channel as a normal result, with a mention.
        if not message.flags.ephemeral:
            await message.edit(**edit)
            return message.channel.id, message.id
        target = ChannelTarget(interaction.channel, interaction.user.id, label="Your nudge")
        count = len(result.images)
        posted = await target.post(
            caption, files=files.files, view=result_view(job_id, pictures=count)
        )
        return posted.channel_id, posted.message_id


def _private(interaction: discord.Interaction) -> bool:
    return interaction.message is not None and interaction.message.flags.ephemeral


async def _tell(interaction: discord.Interaction, text: str) -> None:
    """Privately while the click's token lives, else in the channel with a mention."""
    try:
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        if not _token_expired(exc):
            raise
        await ChannelTarget(interaction.channel, interaction.user.id).notify(text)


def _token_expired(exc: discord.HTTPException) -> bool:
    # Discord's answer once an interaction's 15-minute token is gone: 401, code 50027.
    return exc.status == 401 or exc.code == 50027
