"""A small real discord.py bot for the double's tests: well-behaved commands and deliberate bugs."""

from __future__ import annotations

import asyncio
import io
import re
from collections import defaultdict
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
NONE = discord.AllowedMentions.none()
STYLES = ["cartoon", "cyberpunk", "oil painting", "pixel art", "watercolor"]


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"job:(?P<job>[0-9]+):cancel"
):
    """A persistent button whose custom_id carries the job id, so it survives restarts."""

    def __init__(self, job: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"job:{job}:cancel"
            )
        )
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> CancelButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: SampleBot = interaction.client  # type: ignore[assignment]
        bot.cancelled.append(self.job)
        await interaction.response.edit_message(content=f"Job {self.job} cancelled", view=None)


class Feedback(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[Feedback] = discord.ui.TextInput(label="Your feedback")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Thanks: {self.text.value}", allowed_mentions=NONE)


class SampleBot(commands.Bot):
    """Records what its commands saw and which HTTP errors they got."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,  # else on_ready waits 2 s after the last GUILD_CREATE
        )
        self.guild_id = guild_id
        self.errors: list[discord.HTTPException] = []
        self.gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.cancelled: list[int] = []
        self.seen: dict[str, Any] = {}
        self.finished: list[str] = []

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CancelButton)
        guild = discord.Object(self.guild_id)
        for command in GUILD_COMMANDS:
            self.tree.add_command(command, guild=guild)
        self.tree.add_command(ping)
        await self.tree.sync(guild=guild)
        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py waits 5 s before every re-IDENTIFY to pace logins; the double needs none.
        return None


def _bot(interaction: discord.Interaction) -> SampleBot:
    return interaction.client  # type: ignore[return-value]


async def _attempt(interaction: discord.Interaction, coro: Any) -> Any:
    """Await a Discord call, recording an HTTP error instead of raising it."""
    try:
        return await coro
    except discord.HTTPException as error:
        _bot(interaction).errors.append(error)
        return None


@app_commands.command(description="Render: defer, follow up with a file and a cancel button")
async def render(interaction: discord.Interaction, prompt: str, job: int = 42) -> None:
    await interaction.response.defer(thinking=True)
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job))
    message = await interaction.followup.send(
        f"Rendering {prompt}",
        file=discord.File(io.BytesIO(PNG), "render.png"),
        view=view,
        allowed_mentions=NONE,
        wait=True,
    )
    await message.edit(content=f"Done: {prompt}", allowed_mentions=NONE)
    await interaction.edit_original_response(content=f"Done: {prompt}!", allowed_mentions=NONE)
    _bot(interaction).finished.append("render")


@app_commands.command(description="Restyle an uploaded image")
@app_commands.describe(image="The picture", style="A style")
async def restyle(interaction: discord.Interaction, image: discord.Attachment, style: str) -> None:
    data = await image.read()  # from the double's attachment URL
    _bot(interaction).seen["restyle"] = {
        "filename": image.filename,
        "data": data,
        "content_type": image.content_type,
        "filesize_limit": interaction.filesize_limit,
        "attach_files": interaction.app_permissions.attach_files,
        "locale": str(interaction.locale),
    }
    await interaction.response.send_message(
        f"{style}: {len(data)} bytes",
        file=discord.File(io.BytesIO(data[::-1]), "restyled.png"),
        allowed_mentions=NONE,
    )


@restyle.autocomplete("style")
async def style_choices(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=s.title(), value=s) for s in STYLES if current.lower() in s]


@app_commands.command(description="Waits for the test's go before answering")
async def slow(interaction: discord.Interaction) -> None:
    await _bot(interaction).gates["slow"].wait()
    await _attempt(interaction, interaction.response.send_message("finally", allowed_mentions=NONE))
    _bot(interaction).finished.append("slow")


@app_commands.command(description="Answers twice, as two code paths owning the response would")
async def twice(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("first", allowed_mentions=NONE)
    # A second InteractionResponse has no memory of the first: discord.py cannot guard it.
    second = discord.InteractionResponse(interaction)
    await _attempt(interaction, second.send_message("second", allowed_mentions=NONE))
    _bot(interaction).finished.append("twice")


@app_commands.command(description="Uploads one byte over the interaction's upload limit")
async def big(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    data = b"G" * (interaction.filesize_limit + 1)
    await _attempt(
        interaction, interaction.followup.send(file=discord.File(io.BytesIO(data), "big.gif"))
    )
    await interaction.followup.send("The GIF was too large to post.", allowed_mentions=NONE)
    _bot(interaction).finished.append("big")


@app_commands.command(description="Sends eleven files in one message")
async def many(interaction: discord.Interaction) -> None:
    await interaction.response.defer()
    files = [discord.File(io.BytesIO(PNG), f"{i}.png") for i in range(11)]
    await _attempt(interaction, interaction.followup.send(files=files))
    await interaction.followup.send(files=files[:10], allowed_mentions=NONE)
    _bot(interaction).finished.append("many")


@app_commands.command(description="Answers with 2001 characters, then with 2000")
async def long(interaction: discord.Interaction) -> None:
    await _attempt(
        interaction, interaction.response.send_message("x" * 2001, allowed_mentions=NONE)
    )
    # The 400 left the interaction unacknowledged, so the first response is still ours to send.
    await interaction.response.send_message("x" * 2000, allowed_mentions=NONE)
    _bot(interaction).finished.append("long")


@app_commands.command(description="Sends embeds of 8000 characters in all")
async def wordy(interaction: discord.Interaction) -> None:
    embeds = [discord.Embed(description="d" * 4000) for _ in range(2)]
    await _attempt(interaction, interaction.response.send_message(embeds=embeds))
    await interaction.response.send_message(embeds=embeds[:1], allowed_mentions=NONE)
    _bot(interaction).finished.append("wordy")


@app_commands.command(description="Echoes text without allowed_mentions (the ping bug)")
async def echo(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(text)
    _bot(interaction).finished.append("echo")


@app_commands.command(description="Defers, waits past the token lifetime, then falls back")
async def late(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    await _bot(interaction).gates["late"].wait()
    sent = await _attempt(interaction, interaction.followup.send("Here it is", wait=True))
    if sent is None and interaction.channel is not None:
        await interaction.channel.send(  # type: ignore[union-attr]
            f"{interaction.user.mention} your render is ready",
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
        )
    _bot(interaction).finished.append("late")


@app_commands.command(description="Progress edits until the message disappears")
async def progress(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    message = await interaction.followup.send("step 0", wait=True, allowed_mentions=NONE)
    await _bot(interaction).gates["progress"].wait()
    await _attempt(interaction, message.edit(content="step 1"))
    _bot(interaction).finished.append("progress")


@app_commands.command(description="Many follow-ups and edits, then a channel message")
async def burst(interaction: discord.Interaction, count: int) -> None:
    await interaction.response.defer(thinking=True)
    for index in range(count):
        message = await interaction.followup.send(
            f"part {index}",
            file=discord.File(io.BytesIO(PNG + bytes([index])), f"part{index}.png"),
            wait=True,
            allowed_mentions=NONE,
        )
        await message.edit(content=f"part {index} done", allowed_mentions=NONE)
    await interaction.channel.send("burst done", allowed_mentions=NONE)  # type: ignore[union-attr]
    _bot(interaction).finished.append("burst")


@app_commands.command(description="Follows up once")
async def once(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    await interaction.followup.send("hello once", allowed_mentions=NONE)
    _bot(interaction).finished.append("once")


@app_commands.command(description="Posts a file in the channel, as a late delivery would")
async def post(interaction: discord.Interaction) -> None:
    _bot(interaction).seen["post"] = {
        "app_attach_files": interaction.app_permissions.attach_files,
        "cached_attach_files": interaction.channel.permissions_for(  # type: ignore[union-attr]
            interaction.guild.me  # type: ignore[union-attr]
        ).attach_files,
    }
    await interaction.response.defer()
    await _attempt(
        interaction,
        interaction.channel.send(  # type: ignore[union-attr]
            file=discord.File(io.BytesIO(PNG), "late.png"), allowed_mentions=NONE
        ),
    )
    await interaction.followup.send("Could not post the file here.", allowed_mentions=NONE)
    _bot(interaction).finished.append("post")


@app_commands.command(description="Reports where it runs")
async def where(interaction: discord.Interaction) -> None:
    channel = interaction.channel
    _bot(interaction).seen["where"] = {
        "channel": type(channel).__name__,
        "nsfw": channel.is_nsfw() if hasattr(channel, "is_nsfw") else None,  # type: ignore[union-attr]
        "guild": interaction.guild.name if interaction.guild else None,
        "manage_guild": interaction.permissions.manage_guild,
    }
    await interaction.response.send_message("here", ephemeral=True)
    _bot(interaction).finished.append("where")


@app_commands.command(description="Calls a route the double does not serve")
async def guildinfo(interaction: discord.Interaction) -> None:
    await _attempt(interaction, _bot(interaction).fetch_guild(interaction.guild_id or 0))
    await interaction.response.send_message("no info", allowed_mentions=NONE)
    _bot(interaction).finished.append("guildinfo")


@app_commands.command(description="Follows up before acknowledging (Unknown Webhook)")
async def eager(interaction: discord.Interaction) -> None:
    await _attempt(interaction, interaction.followup.send("too soon", allowed_mentions=NONE))
    await interaction.response.send_message("acknowledged", allowed_mentions=NONE)
    _bot(interaction).finished.append("eager")


@app_commands.command(description="Opens a feedback form")
async def feedback(interaction: discord.Interaction) -> None:
    await interaction.response.send_modal(Feedback())


@app_commands.command(description="Admins only")
@app_commands.default_permissions(manage_guild=True)
async def admin(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("ok", allowed_mentions=NONE)


class StylePicker(discord.ui.View):
    @discord.ui.select(
        custom_id="pick-style",
        options=[discord.SelectOption(label=s.title(), value=s) for s in STYLES],
        max_values=2,
    )
    async def chosen(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        _bot(interaction).seen["pick"] = list(select.values)
        await interaction.response.defer()  # type 6: acknowledge, update later
        await interaction.edit_original_response(content=f"Style: {', '.join(select.values)}")
        _bot(interaction).finished.append("pick")


@app_commands.command(description="Offers a style select menu")
async def pick(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("Pick a style", view=StylePicker(), ephemeral=True)


preset = app_commands.Group(name="preset", description="Server presets")


@preset.command(name="show", description="Show a member's preset")
async def preset_show(
    interaction: discord.Interaction,
    member: discord.Member,
    where: discord.TextChannel | None = None,
) -> None:
    _bot(interaction).seen["preset"] = {
        "member": member.id,
        "member_type": type(member).__name__,
        "where": where.id if where else None,
    }
    await interaction.response.send_message(f"{member.display_name}: none", allowed_mentions=NONE)


@app_commands.command(description="Ping, anywhere")
async def ping(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("pong", allowed_mentions=NONE)
    _bot(interaction).finished.append("ping")


GUILD_COMMANDS = [
    render,
    restyle,
    slow,
    twice,
    big,
    many,
    long,
    wordy,
    echo,
    late,
    progress,
    burst,
    once,
    post,
    where,
    guildinfo,
    eager,
    feedback,
    pick,
    preset,
    admin,
]
