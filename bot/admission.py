"""One way into the queue: slash commands, buttons, modals and recovery all admit jobs here."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import discord

from bot.cooldowns import UserGate
from bot.delivery_targets import ChannelTarget, InteractionTarget
from bot.job_parameters import build_request, upgrade_parameters
from bot.jobs import JobContext, JobService
from bot.member_limits import MemberLimits
from bot.member_policy import MemberAdmission, MemberPolicy
from bot.prompt_screen import PromptBlocked, PromptScreen
from bot.quotas import QuotaTaken
from bot.refusal import Refusal, failure_text, is_refusal
from bot.replies import answer_privately
from generation.models.families import ModelFamily
from generation.models.styles import StyleLibrary
from generation.modes import Mode
from generation.modes.requests import GenerationRequest, validate_request
from storage.models import Guild, NsfwPolicy

log = logging.getLogger(__name__)
RESTARTING = "The bot is restarting: nothing was started. Try again in a minute."
# Journals and queues one checked job, returning its id: (request, context, stored inputs, the
# images it took from the day's quota: to hand back if the job ends without running).
Submit = Callable[
    [GenerationRequest, JobContext, dict[str, bytes], QuotaTaken | None], Awaitable[int]
]
# One checked job: its validated request, its inputs as stored in the journal, its context.
Built = tuple[GenerationRequest, dict[str, bytes], JobContext]
T = TypeVar("T")


class Guilds(Protocol):
    async def get(self, guild_id: int) -> Guild: ...


class Journal(Protocol):
    async def fail(self, job_id: int, reason: str) -> None: ...


class Counters(Protocol):
    """The two admission counters of BotMetrics."""

    refusals: Any
    command_errors: Any


@dataclass(frozen=True)
class Draft:
    """A job before validation: what to run, for whom, and its pictures as uploaded bytes."""

    mode: Mode
    prompt: str
    values: Mapping[str, Any]  # effective values: options over presets over defaults
    context: JobContext
    inputs: Mapping[str, bytes] = field(default_factory=dict)  # "image", "mask"
    seed: int | None = None
    size_from_image: bool = False


def request_from_draft(
    draft: Draft, family: ModelFamily, styles: StyleLibrary
) -> tuple[GenerationRequest, dict[str, bytes]]:
    """Decode, build, validate, and PNG-encode the inputs for the journal.

    All CPU work (a large upload takes a good part of a second at each stage), so callers run it
    on a thread, never on the event loop.
    """
    from generation.images.image_decode import alpha_mask, decode_image, decode_mask

    image = mask = None
    if "image" in draft.inputs:
        image = decode_image(draft.inputs["image"], parameter="image")
    if "mask" in draft.inputs:
        mask = decode_mask(draft.inputs["mask"], parameter="mask")
    elif draft.mode is Mode.INPAINT and image is not None:
        mask = alpha_mask(draft.inputs["image"], parameter="image")
        if mask is None:
            raise Refusal(
                "Inpainting needs a mask: attach one (white = repaint), or upload a PNG whose "
                "transparent area is the part to repaint."
            )
    request = build_request(
        draft.mode,
        draft.prompt,
        draft.values,
        seed=draft.seed,
        image=image,
        mask=mask,
        safety_check=draft.context.wants_safety_check,
        size_from_image=draft.size_from_image and image is not None,
    )
    request = validate_request(request, family, styles)
    return request, stored_inputs(request)


def stored_inputs(request: GenerationRequest) -> dict[str, bytes]:
    """The validated image and mask as PNG, so the job can run again after a restart."""
    stored = {}
    for role, picture in (("image", request.image), ("mask", request.mask)):
        if picture is not None:
            buffer = io.BytesIO()
            picture.save(buffer, "PNG")
            stored[role] = buffer.getvalue()
    return stored


def with_role_sources(
    context: JobContext, limits: MemberLimits, request: GenerationRequest
) -> JobContext:
    """The precedence under the result names the role that allowed more than the server does."""
    granted = limits.role_sources(request)
    return replace(context, sources={**context.sources, **granted}) if granted else context


def check_permissions(interaction: discord.Interaction) -> None:
    """Refuse before any work when the bot could not post the result here."""
    permissions = interaction.app_permissions
    if not permissions.attach_files:
        raise Refusal("I can't attach files in this channel: ask an admin for Attach Files.")
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and not permissions.send_messages_in_threads:
        raise Refusal("I can't post in this thread: ask an admin for Send Messages in Threads.")


def channel_is_nsfw(channel: object) -> bool:
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw and is_nsfw())


def interaction_context(
    interaction: discord.Interaction, guild: Guild, command: str, **extra: Any
) -> JobContext:
    """Who, where and under which policy, read from the interaction (never from user input)."""
    return JobContext(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        command=command,
        channel_nsfw=channel_is_nsfw(interaction.channel),
        nsfw_policy=guild.nsfw_policy,
        upload_limit=interaction.filesize_limit,
        **extra,
    )


class AdmissionService:
    """Admits a job: checks, cooldown, decoding off the loop, the journal, the engine; one error
    handling for every way in, so nobody is left without an answer."""

    def __init__(
        self,
        *,
        jobs: JobService,
        journal: Journal,
        guilds: Guilds,
        gate: UserGate,
        family: ModelFamily,
        styles: StyleLibrary,
        counters: Counters,
        prompt_screen: PromptScreen,
        members: MemberPolicy,
    ) -> None:
        self.members = members
        self._jobs = jobs
        self._journal = journal
        self._guilds = guilds
        self.gate = gate
        self._family = family
        self._styles = styles
        self._counters = counters
        self.prompt_screen = prompt_screen

    async def guild(self, guild_id: int | None) -> Guild:
        """The server's settings; direct messages get the defaults."""
        return await self._guilds.get(guild_id) if guild_id else Guild.defaults(0)

    async def admit(
        self,
        interaction: discord.Interaction,
        what: str,
        draft_for: Callable[[Guild], Awaitable[Draft]],
        *,
        submit: Submit | None = None,
        paced: bool = True,
        replaces_waiting: Callable[[], bool] | None = None,
    ) -> int | None:
        """Admit the job ``draft_for`` builds for ``interaction`` (already deferred, or not).

        Returns the job id, or None when it was not admitted; the user has then been told why.
        ``what`` names the way in ("/imagine", "Re-roll") in messages, logs and metrics.
        ``submit`` journals and queues the checked job itself (default: JobService.start, which
        posts the result); ``paced=False`` skips the cooldown, for a nudge click, whose session
        keeps at most one render waiting (latest wins) instead. The member's queue cap still
        holds, unless ``replaces_waiting()`` says the job will replace a waiting job of its
        coalesce key (it then takes no new place in the queue).
        """

        async def drafts_for(guild: Guild) -> list[Draft]:
            return [await draft_for(guild)]

        async def submit_all(built: list[Built], images: QuotaTaken | None) -> int:
            ((request, stored, context),) = built
            if submit is not None:
                return await submit(request, context, stored, images)
            return await self._jobs.start(
                request, context, InteractionTarget(interaction), inputs=stored
            )

        try:
            return await self._admit(interaction, drafts_for, submit_all, paced, replaces_waiting)
        except Exception as exc:
            await self.answer_failure(interaction, what, exc)
            return None

    async def admit_many(
        self,
        interaction: discord.Interaction,
        what: str,
        drafts_for: Callable[[Guild], Awaitable[list[Draft]]],
        submit_all: Callable[[list[Built]], Awaitable[T]],
    ) -> T | None:
        """Admit several jobs as one (a sweep's cells): one cooldown claim, every prompt
        screened, every job within the member's limits, all their images against the day's
        quota; ``submit_all`` journals and queues them, all or none. None when refused (the
        user has been told why)."""

        async def submit_built(built: list[Built], images: QuotaTaken | None) -> T:
            return await submit_all(built)

        try:
            return await self._admit(interaction, drafts_for, submit_built, True)
        except Exception as exc:
            await self.answer_failure(interaction, what, exc)
            return None

    async def _admit(
        self,
        interaction: discord.Interaction,
        drafts_for: Callable[[Guild], Awaitable[list[Draft]]],
        submit_all: Callable[[list[Built], QuotaTaken | None], Awaitable[T]],
        paced: bool,
        replaces_waiting: Callable[[], bool] | None = None,
    ) -> T:
        if self._jobs.stopping:
            raise Refusal(RESTARTING)
        # A stop waits for admissions in progress: an acknowledged job is journaled or refused.
        with self._jobs.admission():
            check_permissions(interaction)
            guild = await self.guild(interaction.guild_id)
            member = await self.member(interaction, guild)
            claim = None
            if paced:
                claim = self.gate.claim(interaction.user.id, guild, member.limits)
            elif replaces_waiting is None or not replaces_waiting():
                # Unpaced skips the cooldown only: a click that adds a render to the queue
                # (not one replacing its session's waiting render) is within the member's cap.
                self.gate.check_queue(interaction.user.id, guild, member.limits)
            try:
                drafts = await drafts_for(guild)
                prompts = list(dict.fromkeys(draft.prompt for draft in drafts))
                await self.screen(interaction, drafts[0].context, prompts, drafts[0].values)
                built = await asyncio.to_thread(self._build, drafts)
                for request, _, _ in built:
                    member.limits.check(request)
                built = [
                    (request, stored, with_role_sources(context, member.limits, request))
                    for request, stored, context in built
                ]
                images = await self.members.take_images(
                    member, sum(request.count for request, _, _ in built)
                )
                try:
                    return await submit_all(built, images)
                except BaseException:
                    if images is not None:
                        await images.release()  # not admitted: the images are not spent
                    raise
            except BaseException as exc:
                # Not accepted: the cooldown is not spent (a typo costs no wait). Except for a
                # blocked prompt: each is logged for the moderators, so a blocked attempt costs
                # the cooldown, else one user could flood their log.
                if claim is not None and not isinstance(exc, PromptBlocked):
                    claim.release()
                raise

    def _build(self, drafts: list[Draft]) -> list[Built]:
        """Each draft decoded, built and validated (CPU work: on a thread)."""
        built = []
        for draft in drafts:
            request, stored = request_from_draft(draft, self._family, self._styles)
            built.append((request, stored, draft.context))
        return built

    async def member(self, interaction: discord.Interaction, guild: Guild) -> MemberAdmission:
        """The server's rules for this member here: refuses a denied channel or a spent quota
        before any work, else gives the member's limits (their roles over the server's)."""
        return await self.members.admission(
            guild,
            interaction.user,
            interaction.channel_id,
            interaction.channel,
            interaction.guild_id,
        )

    async def screen(
        self,
        interaction: discord.Interaction,
        context: JobContext,
        prompts: Sequence[str],
        values: Mapping[str, Any],
    ) -> None:
        """The blocklist, before any work: refuses (PromptBlocked) and logs a blocked prompt."""
        await self.prompt_screen.check(
            event_id=interaction.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            what=context.command,
            prompts=prompts,
            negative=values.get("negative_prompt"),
        )

    async def answer_failure(
        self, interaction: discord.Interaction, what: str, exc: BaseException
    ) -> None:
        """Log ``exc``, count it, and tell the user privately in one sentence."""
        if is_refusal(exc):
            log.info("%s refused: %s", what, exc)
            self._counters.refusals.inc()
        else:
            log.error("%s failed", what, exc_info=exc)
            self._counters.command_errors.labels(what).inc()
        try:
            await answer_privately(interaction, failure_text(what, exc))
        except discord.HTTPException as answer_error:
            # The interaction itself is gone (expired, or a modal owns the response).
            log.warning("could not tell the user that %s failed: %s", what, answer_error)

    async def readmit(
        self, job, inputs: Mapping[str, bytes], channel, target: ChannelTarget
    ) -> bool:
        """Submit a job the journal kept over a restart, past the caps: it was accepted before.

        On failure the job is failed in the journal and its user told; returns whether it runs.
        """
        try:
            guild = await self.guild(job.guild_id)
            context = JobContext(
                user_id=job.user_id,
                guild_id=job.guild_id,
                channel_id=job.channel_id,
                command=job.command,
                channel_nsfw=channel_is_nsfw(channel),
                nsfw_policy=guild.nsfw_policy if job.guild_id else NsfwPolicy.BLOCK,
                upload_limit=getattr(getattr(channel, "guild", None), "filesize_limit", 10 << 20),
                parent_id=job.parent_id,
            )
            # A job journaled by an older version stored one `style` and its weight.
            parameters = upgrade_parameters(job.parameters)
            draft = Draft(
                Mode(parameters["mode"]),
                str(parameters["prompt"]),
                parameters,
                context,
                inputs=inputs,
                seed=parameters.get("seed"),  # the same seeds as first promised
            )
            request, _ = await asyncio.to_thread(
                request_from_draft, draft, self._family, self._styles
            )
            self._jobs.resume(job.id, request, context, target)
            return True
        except Exception as exc:
            if is_refusal(exc):
                log.warning("job %s cannot run again: %s", job.id, exc)
            else:
                log.exception("job %s could not be re-submitted", job.id)
            reason = failure_text("Restarting it", exc)
            await self._journal.fail(job.id, reason)
            await target.notify_or_log(f"❌ Job {job.id} could not be restarted: {reason}")
            return False
