"""/imagine, /img2img, /inpaint, /canny and /animate: one shared flow, five signatures."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.autocomplete import motion_autocomplete, preset_autocomplete, style_autocomplete
from bot.delivery_targets import InteractionTarget
from bot.job_builder import CommandInput, Refusal, prepare_job
from bot.replies import reply_privately
from generation.errors import GenerationError
from generation.fair_queue import QueueFull
from generation.families import Mode
from storage.errors import StorageError

if TYPE_CHECKING:
    from bot.app import LcmBot

log = logging.getLogger(__name__)
MAX_SEED = 2**32 - 1

# Shared option help, so every command describes an option the same way.
HELP = {
    "prompt": "What to draw (up to 77 CLIP tokens are used; you are told if some are dropped)",
    "style": "A style from this server's list (see /styles)",
    "preset": "One of your presets or this server's (see /preset list)",
    "size": "WIDTHxHEIGHT, multiples of 8, e.g. 512x768 (default: the model's size)",
    "steps": "Denoising steps, 1–8 (LCM needs only 2–8)",
    "guidance": "Guidance scale; above 1 turns on the negative prompt at twice the cost",
    "seed": "Seed for a repeatable image (default: random)",
    "count": "How many images, 1–4",
    "negative": "What to avoid (needs guidance above 1)",
    "image": "The picture to start from (PNG, JPEG, WebP or GIF)",
    "strength": "How much to change the picture, 0.05–1 (higher = more change)",
    "mask": "White where to repaint, black where to keep (or use a PNG with a transparent hole)",
    "adapter": "ControlNet (stronger) or T2I-Adapter (lighter and faster)",
    "low_threshold": "Canny low threshold, 0–255",
    "high_threshold": "Canny high threshold, 0–255",
    "conditioning_scale": "How strongly the edges steer the picture, 0–2",
    "frames": "Frames in the animation, 8–24",
    "motion": "Camera motion (zoom, pan, tilt, roll)",
    "fps": "Frames per second of the GIF, 1–30",
    "quality": "full (best) or fast (a lighter decoder: quicker, slightly softer)",
}


class GenerateCog(commands.Cog):
    """Every generation command: defer first, then presets, uploads, the journal and the engine."""

    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot

    async def run(self, interaction: discord.Interaction, given: CommandInput) -> None:
        """Options hold None where the user left one out: precedence then asks the next level."""
        # Defer before any download, database or GPU work: Discord allows 3 s for the first reply.
        # Privately: progress and refusals are for the user; the result is posted for everyone.
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            prepared = await prepare_job(self.bot, interaction, given)
            await self.bot.jobs.start(
                prepared.request,
                prepared.context,
                InteractionTarget(interaction),
                inputs=prepared.inputs,
            )
        except (Refusal, GenerationError, QueueFull, StorageError) as exc:
            log.info("refused: %s", exc)
            self.bot.metrics.refusals.inc()
            await reply_privately(interaction, str(exc))

    @app_commands.command(name="imagine", description="Draw a picture from a prompt")
    @app_commands.describe(
        **{
            k: HELP[k]
            for k in (
                "prompt",
                "style",
                "preset",
                "size",
                "steps",
                "guidance",
                "seed",
                "count",
                "negative",
                "quality",
            )
        }
    )
    @app_commands.autocomplete(style=style_autocomplete, preset=preset_autocomplete)
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1500],
        style: str | None = None,
        preset: str | None = None,
        size: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        quality: Literal["full", "fast"] | None = None,
    ) -> None:
        options = dict(
            style=style,
            size=size,
            steps=steps,
            guidance=guidance,
            seed=seed,
            count=count,
            negative_prompt=negative,
            quality=quality,
        )
        await self.run(interaction, CommandInput(Mode.TXT2IMG, prompt, options, preset))

    @app_commands.command(name="img2img", description="Redraw an uploaded picture from a prompt")
    @app_commands.describe(
        **{
            k: HELP[k]
            for k in (
                "image",
                "prompt",
                "strength",
                "style",
                "preset",
                "steps",
                "guidance",
                "seed",
                "count",
                "negative",
            )
        }
    )
    @app_commands.autocomplete(style=style_autocomplete, preset=preset_autocomplete)
    async def img2img(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 1500],
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        style: str | None = None,
        preset: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        options = dict(
            strength=strength,
            style=style,
            steps=steps,
            guidance=guidance,
            seed=seed,
            count=count,
            negative_prompt=negative,
        )
        await self.run(interaction, CommandInput(Mode.IMG2IMG, prompt, options, preset, image))

    @app_commands.command(name="inpaint", description="Repaint part of a picture")
    @app_commands.describe(
        **{
            k: HELP[k]
            for k in (
                "image",
                "prompt",
                "mask",
                "strength",
                "style",
                "preset",
                "steps",
                "seed",
                "count",
            )
        }
    )
    @app_commands.autocomplete(style=style_autocomplete, preset=preset_autocomplete)
    async def inpaint(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 1500],
        mask: discord.Attachment | None = None,
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        style: str | None = None,
        preset: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
    ) -> None:
        options = dict(strength=strength, style=style, steps=steps, seed=seed, count=count)
        await self.run(
            interaction, CommandInput(Mode.INPAINT, prompt, options, preset, image, mask)
        )

    @app_commands.command(name="canny", description="Draw following the edges of a picture")
    @app_commands.describe(
        **{
            k: HELP[k]
            for k in (
                "image",
                "prompt",
                "adapter",
                "low_threshold",
                "high_threshold",
                "conditioning_scale",
                "style",
                "preset",
                "steps",
                "seed",
                "count",
            )
        }
    )
    @app_commands.autocomplete(style=style_autocomplete, preset=preset_autocomplete)
    async def canny(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 1500],
        adapter: Literal["controlnet", "t2i-adapter"] | None = None,
        low_threshold: app_commands.Range[int, 0, 255] | None = None,
        high_threshold: app_commands.Range[int, 0, 255] | None = None,
        conditioning_scale: app_commands.Range[float, 0.0, 2.0] | None = None,
        style: str | None = None,
        preset: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
    ) -> None:
        options = dict(
            adapter=adapter,
            low_threshold=low_threshold,
            high_threshold=high_threshold,
            conditioning_scale=conditioning_scale,
            style=style,
            steps=steps,
            seed=seed,
            count=count,
        )
        await self.run(interaction, CommandInput(Mode.CONTROLNET, prompt, options, preset, image))

    @app_commands.command(name="animate", description="Make a short animation (GIF)")
    @app_commands.describe(
        **{
            k: HELP[k]
            for k in ("prompt", "frames", "motion", "fps", "style", "preset", "steps", "seed")
        }
    )
    @app_commands.autocomplete(
        motion=motion_autocomplete, style=style_autocomplete, preset=preset_autocomplete
    )
    async def animate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1500],
        frames: app_commands.Range[int, 8, 24] | None = None,
        motion: str | None = None,
        fps: app_commands.Range[int, 1, 30] | None = None,
        style: str | None = None,
        preset: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
    ) -> None:
        options = dict(frames=frames, motion=motion, fps=fps, style=style, steps=steps, seed=seed)
        await self.run(interaction, CommandInput(Mode.ANIMATE, prompt, options, preset))


async def setup(bot: LcmBot) -> None:
    await bot.add_cog(GenerateCog(bot))
