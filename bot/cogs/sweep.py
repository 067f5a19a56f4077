"""/sweep: prompt permutations × one parameter axis as engine jobs, on one contact sheet."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.admission import Draft
from bot.autocomplete import preset_autocomplete, style_autocomplete
from bot.cogs.generate import HELP, MAX_SEED, describe_for_family
from bot.delivery_targets import NO_PINGS, InteractionTarget, PostedMessage
from bot.job_builder import CommandInput
from bot.job_parameters import upgrade_parameters
from bot.job_queueing import queue_jobs
from bot.jobs import JobContext, job_caption
from bot.logs import bind_log_context
from bot.refusal import Refusal
from bot.render import truncate
from bot.result_files import build_result_files
from bot.style_options import StylePick, as_picks
from bot.sweep_plan import AXES, DEFAULT_MAX_CELLS, SweepCell, SweepPlan, plan_sweep
from bot.views import result_view
from generation.engine.events import (
    JobCancelled,
    JobFailed,
    JobFinished,
    JobInterrupted,
    JobStarted,
)
from generation.images.contact_sheet import encode_sheet, render_sheet
from generation.models.styles import MAX_WEIGHT, MIN_WEIGHT
from generation.modes import Mode
from generation.modes.requests import GenerationResult

if TYPE_CHECKING:
    from bot.app import LcmBot

log = logging.getLogger(__name__)

# The sheet is edited at most this often while cells arrive (Discord: about 1 edit/s a message).
SHEET_EDIT_INTERVAL_S = 1.0
# Cells of recent sweeps open from memory (full-size pictures: 25 SDXL cells are 75 MB); older
# sweeps' cells are rendered again from the journal when opened.
KEPT_PIXELS = 32 * 1024 * 1024
HELD = "after restart"  # a cell's note when a stop interrupted it
AXIS_CHOICES = [app_commands.Choice(name=label, value=axis) for axis, (_, _, label) in AXES.items()]
SWEEP_HELP = {
    "prompt": "The prompt; {a, b, c} groups make one row each, e.g. a {red, blue, gold} car",
    "axis": "The parameter that changes from column to column",
    "values": "The axis values: 1, 2, 5 or a range 1..4 or evenly spaced 0.2..0.8 x4",
    "image": "A picture to start from (needed for the strength and canny scale axes)",
    "seed": "Seed shared by every cell (default: one random seed); the seed axis overrides it",
    "strength": HELP["strength"] + "; the strength axis overrides it",
}


@dataclass
class Sweep:
    """One sweep in flight: its plan, its cells' journal ids, and what has come back so far."""

    plan: SweepPlan
    cells: list[SweepCell]
    job_ids: list[int]
    context: JobContext
    results: dict[int, GenerationResult] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)  # cell → why it has no picture
    journaled: set[int] = field(default_factory=set)  # cells whose job row is finished
    handles: list = field(default_factory=list)  # the engine's handles, one a cell
    pixels: int = 0  # of all its cells, for the memory kept
    message_id: int | None = None  # the sheet
    by_webhook: bool = True  # posted with the interaction token (else in the channel)

    @property
    def done(self) -> int:
        return len(self.results) + len(self.notes)


class SweepSelect(
    discord.ui.DynamicItem[discord.ui.Select], template=r"lcm:sweep:(?P<first>[0-9]{1,19})"
):
    """The sheet's cell picker; discord.py rebuilds it from the custom_id after a restart."""

    def __init__(self, first_job_id: int, options: list[discord.SelectOption] | None = None):
        super().__init__(
            discord.ui.Select(
                custom_id=f"lcm:sweep:{first_job_id}",
                placeholder="Open a cell as a result…",
                options=options or [discord.SelectOption(label="…", value=str(first_job_id))],
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Select, match: re.Match[str]
    ) -> SweepSelect:
        return cls(int(match["first"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bind_log_context(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            command="select:sweep",
        )
        values = (interaction.data or {}).get("values") or []
        cog = interaction.client.get_cog("SweepCog")
        await cog.open_cell(interaction, int(values[0]))


class SweepCog(commands.Cog):
    """Plans a sweep, journals and submits one job a cell, and keeps its sheet up to date."""

    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot
        self.edit_interval_s = SHEET_EDIT_INTERVAL_S
        self._sweeps: OrderedDict[int, Sweep] = OrderedDict()  # by first cell job id
        self._cell_sweep: dict[int, Sweep] = {}
        self._tasks: set[asyncio.Task] = set()
        describe_for_family(self, bot.family)

    async def wait_idle(self) -> None:
        """Wait until every sheet in flight is complete (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @app_commands.command(
        name="sweep", description="A contact sheet: prompt variants × one parameter's values"
    )
    @app_commands.describe(
        **SWEEP_HELP,
        **{k: HELP[k] for k in ("style", "style_weight", "preset", "size", "steps", "guidance")},
        negative=HELP["negative"],
    )
    @app_commands.choices(axis=AXIS_CHOICES)
    @app_commands.autocomplete(style=style_autocomplete, preset=preset_autocomplete)
    async def sweep(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1500],
        axis: app_commands.Choice[str] | None = None,
        values: app_commands.Range[str, 1, 200] | None = None,
        image: discord.Attachment | None = None,
        style: str | None = None,
        style_weight: app_commands.Range[float, MIN_WEIGHT, MAX_WEIGHT] | None = None,
        preset: str | None = None,
        size: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        options = dict(
            style=style,
            style_weight=style_weight,
            size=size,
            steps=steps,
            guidance=guidance,
            strength=strength,
            negative_prompt=negative,
            count=1,
            seed=seed,
        )
        try:
            await self._admit(
                interaction, prompt, axis.value if axis else None, values, image, options, preset
            )
        except Exception as exc:
            await self.bot.admissions.answer_failure(interaction, "/sweep", exc)

    async def _admit(self, interaction, prompt, axis, values, image, options, preset) -> None:
        max_cells = DEFAULT_MAX_CELLS
        if interaction.guild_id is not None:  # a server may allow more cells, or fewer
            guild = await self.bot.database.guilds.get(interaction.guild_id)
            max_cells = guild.max_sweep_cells or DEFAULT_MAX_CELLS
        plan = plan_sweep(prompt, axis, values, max_cells=max_cells)
        if axis in ("strength", "canny_scale") and image is None:
            raise Refusal(f"A {AXES[axis][2]} sweep starts from a picture: attach one in `image`.")
        mode = Mode.TXT2IMG if image is None else Mode.IMG2IMG
        if axis == "canny_scale":
            mode = Mode.CONTROLNET
        seed = options.get("seed")
        shared_seed = seed if seed is not None else secrets.randbelow(MAX_SEED + 1)

        async def drafts_for(guild) -> list[Draft]:
            given = CommandInput(mode, plan.prompts[0], options, preset, image)
            base = await self.bot.drafts.draft(interaction, given, guild)
            return self._drafts(plan, base, shared_seed)

        async def submit_all(built) -> Sweep:
            return await self._submit(plan, built)

        # The one admission path: the member's limits for every cell, all its images against
        # the day's quota, every row's prompt against the blocklist, one cooldown for the sheet.
        sweep = await self.bot.admissions.admit_many(interaction, "/sweep", drafts_for, submit_all)
        if sweep is None:
            return  # refused; the user was told why
        target = InteractionTarget(interaction)
        await target.show_status(f"🎛️ Sweep of {plan.size} cells queued…")
        task = asyncio.create_task(self._deliver(sweep, interaction, target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _drafts(self, plan: SweepPlan, base: Draft, seed: int) -> list[Draft]:
        """Each cell's draft: the base with the cell's prompt and its value on the axis."""
        drafts = []
        for cell in plan.cells():
            values = dict(base.values)
            cell_seed = seed
            if plan.axis == "seed":
                cell_seed = int(cell.value)
            elif plan.axis == "style_weight":
                picks = as_picks(values.get("styles"))
                if not picks:
                    raise Refusal("A style weight sweep needs a style: pick one in `style`.")
                values["styles"] = [StylePick(p.name, float(cell.value)) for p in picks]
            elif plan.axis is not None:
                values[AXES[plan.axis][0]] = cell.value
            drafts.append(
                dataclasses.replace(base, prompt=cell.prompt, values=values, seed=cell_seed)
            )
        return drafts

    async def _submit(self, plan: SweepPlan, built) -> Sweep:
        """Journal every cell as a job, then queue them all (the first meets the queue cap, the
        rest ride with it, each paying its own cost in the fair queue); all or none."""
        admitted = await queue_jobs(self.bot.database, self.bot.engine, built)
        job_ids = [job.job_id for job in admitted]
        handles = [job.handle for job in admitted]
        context = admitted[0].context
        pixels = sum(job.request.width * job.request.height for job in admitted)
        sweep = Sweep(plan, plan.cells(), job_ids, context, handles=handles, pixels=pixels)
        self._sweeps[job_ids[0]] = sweep
        for job_id in job_ids:
            self._cell_sweep[job_id] = sweep
        while len(self._sweeps) > 1 and self._kept_pixels() > KEPT_PIXELS:
            _, old = self._sweeps.popitem(last=False)
            for job_id in old.job_ids:
                self._cell_sweep.pop(job_id, None)
        log.info("sweep of %d cells accepted: jobs %s", plan.size, job_ids)
        return sweep

    def _kept_pixels(self) -> int:
        return sum(sweep.pixels for sweep in self._sweeps.values())

    async def _follow(self, sweep: Sweep, index: int, handle, changed: asyncio.Event) -> None:
        """One cell's events into the journal and the sweep's state."""
        jobs = self.bot.database.jobs
        job_id = sweep.job_ids[index]
        async for event in handle:
            if isinstance(event, JobStarted):
                await jobs.start(job_id)
            elif isinstance(event, JobFinished):
                sweep.results[index] = event.result
                changed.set()
            elif isinstance(event, JobFailed):
                await jobs.fail(job_id, event.reason)
                sweep.notes[index] = "failed"
                changed.set()
            elif isinstance(event, JobCancelled):
                await jobs.cancel(job_id)
                sweep.notes[index] = "cancelled"
                changed.set()
            elif isinstance(event, JobInterrupted):
                # A graceful stop: the journal keeps the cell; recovery posts it on its own.
                if event.was_running:
                    await jobs.requeue(job_id)
                sweep.notes[index] = HELD
                changed.set()

    async def _deliver(
        self, sweep: Sweep, interaction: discord.Interaction, target: InteractionTarget
    ) -> None:
        changed = asyncio.Event()
        pending = {
            asyncio.create_task(self._follow(sweep, index, handle, changed))
            for index, handle in enumerate(sweep.handles)
        }
        loop = asyncio.get_running_loop()
        last_edit = -float("inf")
        try:
            while pending:
                waiter = asyncio.create_task(changed.wait())
                _, pending = await asyncio.wait(
                    pending | {waiter}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(waiter)
                waiter.cancel()
                if not pending or not changed.is_set():
                    continue
                # Latest wins: cells arriving within the interval join the next edit.
                wait_s = last_edit + self.edit_interval_s - loop.time()
                if wait_s > 0:
                    _, pending = await asyncio.wait(pending, timeout=wait_s)
                    if not pending:
                        break
                changed.clear()
                await self._show(sweep, interaction, target, final=False)
                last_edit = loop.time()
            await self._show(sweep, interaction, target, final=True)
        except Exception:
            log.exception("the sweep sheet of jobs %s could not be delivered", sweep.job_ids)
            for task in pending:
                task.cancel()
            if self.bot.jobs.stopping:
                return  # a graceful stop: the journal keeps unfinished cells for the next start
            for index, job_id in enumerate(sweep.job_ids):
                if sweep.notes.get(index) == HELD:
                    continue  # interrupted by a stop and requeued: it runs after the restart
                self.bot.engine.cancel(str(job_id))
                await self.bot.database.jobs.fail(job_id, "the sweep sheet could not be posted")
            # Best effort: the bot may be closing, with no session left to tell anyone.
            with contextlib.suppress(Exception):
                await target.notify("❌ The sweep sheet could not be posted.")

    def _grid(self, sweep: Sweep) -> tuple[list[list], bool]:
        """The cells for the sheet, and whether it must go behind a spoiler (safety policy)."""
        plan, handling = sweep.plan, sweep.context.flagged_handling
        grid: list[list] = [[None] * len(plan.column_labels) for _ in plan.prompts]
        spoiler = False
        for index, cell in enumerate(sweep.cells):
            result = sweep.results.get(index)
            if result is None:
                grid[cell.row][cell.column] = sweep.notes.get(index)
                continue
            flagged = bool(result.nsfw and result.nsfw[0])
            if flagged and handling == "block":
                grid[cell.row][cell.column] = "withheld"
                continue
            spoiler |= flagged and handling == "spoiler"
            grid[cell.row][cell.column] = result.images[0]
        return grid, spoiler

    def _render(self, sweep: Sweep) -> discord.File:
        plan = sweep.plan
        grid, spoiler = self._grid(sweep)
        first = sweep.results[min(sweep.results)] if sweep.results else None
        request = first.request if first else None
        size = (request.width, request.height) if request else (64, 64)
        sheet = render_sheet(grid, plan.row_labels, plan.column_labels, size)
        data, extension = encode_sheet(sheet, sweep.context.upload_limit)
        name = f"sweep-{sweep.job_ids[0]}.{extension}"
        return discord.File(io.BytesIO(data), filename=name, spoiler=spoiler)

    def _content(self, sweep: Sweep, final: bool) -> str:
        plan = sweep.plan
        rows, columns = len(plan.prompts), len(plan.column_labels)
        head = f"🎛️ **Sweep** `{truncate(plan.template, 300)}`"
        facts = [f"{rows} × {columns} = {plan.size} cells"]
        if plan.axis:
            facts.append(f"{AXES[plan.axis][2]} across")
        first = next(iter(sweep.results.values()), None)
        if first is not None and plan.axis != "seed":
            facts.append(f"seed {first.request.seed}")
        facts.append(f"{sweep.done}/{plan.size} done" if not final else "complete")
        lines = [head, " · ".join(facts)]
        held = sum(note == HELD for note in sweep.notes.values())
        if held:
            lines.append(
                f"⏸️ The bot restarted: {held} cell(s) run when it is back and are posted on "
                "their own in this channel."
            )
        if len(sweep.notes) > held:
            lines.append(f"⚠️ {len(sweep.notes) - held} cell(s) failed or were cancelled.")
        if final:
            lines.append("Pick a cell below to open it as a result with its buttons.")
        return truncate("\n".join(lines), 2000)

    def _view(self, sweep: Sweep) -> discord.ui.View:
        options = []
        for index, cell in enumerate(sweep.cells):
            if index not in sweep.results:
                continue
            label = truncate(sweep.plan.cell_label(cell), 100)
            description = truncate(cell.prompt, 100)
            options.append(
                discord.SelectOption(
                    label=label, value=str(sweep.job_ids[index]), description=description
                )
            )
        view = discord.ui.View(timeout=None)
        if options:
            view.add_item(SweepSelect(sweep.job_ids[0], options))
        return view

    async def _show(
        self,
        sweep: Sweep,
        interaction: discord.Interaction,
        target: InteractionTarget,
        *,
        final: bool,
    ) -> None:
        if not sweep.results and not final:
            return
        if not sweep.results:
            await target.notify("❌ No cell of the sweep produced a picture.")
            return
        file = await asyncio.to_thread(self._render, sweep)
        content = self._content(sweep, final)
        view = self._view(sweep) if final else discord.utils.MISSING
        sheet = None if file.spoiler else file.fp.getvalue()  # discord.py closes what it sends
        await self._publish(sweep, interaction, target, content, file, view)
        if final:  # the moderators' log: one entry for the finished sheet
            await self.bot.mod_log.sheet_posted(
                sweep.job_ids[0],
                sweep.context,
                sweep.plan.template,
                PostedMessage(interaction.channel_id, sweep.message_id),
                sheet,
                key="sheet",
            )
        for index in sorted(set(sweep.results) - sweep.journaled):
            await self.bot.database.jobs.finish(
                sweep.job_ids[index],
                result_channel_id=interaction.channel_id,
                result_message_id=sweep.message_id,
            )
            sweep.journaled.add(index)
        status = "✅ Sweep complete" if final else f"🎛️ Sweep: {sweep.done}/{sweep.plan.size}"
        guild = interaction.guild_id or "@me"
        link = f"https://discord.com/channels/{guild}/{interaction.channel_id}/{sweep.message_id}"
        await target.show_status(f"{status}: {link}")

    async def _publish(self, sweep, interaction, target, content, file, view) -> None:
        """Post or edit the sheet: with the interaction token while it lives, then in the channel.

        A sweep behind a long queue can outlive Discord's 15-minute token (401, code 50027): the
        bot may still edit its own message through the channel, or post one there.
        """
        edit = dict(content=content, attachments=[file], view=view, allowed_mentions=NO_PINGS)
        if sweep.message_id is not None and sweep.by_webhook:
            try:
                await interaction.followup.edit_message(sweep.message_id, **edit)
                return
            except discord.HTTPException as exc:
                if not _token_expired(exc):
                    raise
            sweep.by_webhook = False
            file.reset()
        if sweep.message_id is not None:
            await interaction.channel.get_partial_message(sweep.message_id).edit(**edit)
            return
        if not interaction.is_expired():
            try:
                # The deferred "thinking" placeholder must be resolved first, or Discord turns
                # the first follow-up into it, private.
                await target.show_status(f"🎛️ Sweep: {sweep.done}/{sweep.plan.size} cells…")
                message = await interaction.followup.send(
                    content, file=file, view=view, wait=True, allowed_mentions=NO_PINGS
                )
                sweep.message_id = message.id
                return
            except discord.HTTPException as exc:
                if not _token_expired(exc):
                    raise
            file.reset()
        sweep.by_webhook = False
        user = interaction.user.id
        message = await interaction.channel.send(
            f"<@{user}> {content}"[:2000],
            file=file,
            view=view,
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(user)]),
        )
        sweep.message_id = message.id

    async def open_cell(self, interaction: discord.Interaction, job_id: int) -> None:
        """Post one cell as a normal result with its buttons (from memory, or rendered again)."""
        admissions = self.bot.admissions
        sweep = self._cell_sweep.get(job_id)
        index = sweep.job_ids.index(job_id) if sweep else None
        result = sweep.results.get(index) if sweep else None
        if result is None:
            await self._render_cell_again(interaction, job_id)
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            context = sweep.context
            files = await asyncio.to_thread(
                build_result_files,
                result,
                limit_bytes=interaction.filesize_limit,
                flagged=context.flagged_handling,
            )
            if not files.files:
                raise Refusal("That cell is withheld by this server's safety policy.")
            note = f"From a sweep: {sweep.plan.cell_label(sweep.cells[index])}"
            caption = job_caption(job_id, result, context, [note])
            view = result_view(job_id)
            await InteractionTarget(interaction).post(caption, files=files.files, view=view)
        except Exception as exc:
            await admissions.answer_failure(interaction, "Opening the cell", exc)

    async def _render_cell_again(self, interaction: discord.Interaction, job_id: int) -> None:
        """After a restart the cell's picture is gone: run its journaled job again, same seed."""
        await interaction.response.defer(ephemeral=True, thinking=True)

        async def draft_for(guild) -> Draft:
            from bot.admission import interaction_context

            job = await self.bot.database.jobs.get(job_id)
            if job is None:
                raise Refusal(f"Job {job_id} is no longer in the history, so it cannot open.")
            parameters = upgrade_parameters(job.parameters)
            inputs = await self.bot.database.jobs.inputs(job_id)
            context = interaction_context(interaction, guild, "select:sweep", parent_id=job_id)
            return Draft(
                Mode(parameters["mode"]),
                str(parameters["prompt"]),
                parameters,
                context,
                inputs=inputs,
                seed=parameters.get("seed"),
            )

        await self.bot.admissions.admit(interaction, "Opening the cell", draft_for)


def _token_expired(exc: discord.HTTPException) -> bool:
    return exc.status == 401 or exc.code == 50027


async def setup(bot: LcmBot) -> None:
    await bot.add_cog(SweepCog(bot))
    bot.add_dynamic_items(SweepSelect)
