"""/imagine, /img2img, /inpaint, /canny and /animate: one shared flow, five signatures."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.autocomplete import motion_autocomplete, preset_autocomplete, style_autocomplete
from bot.job_builder import CommandInput
from generation.images.sizing import ASPECTS
from generation.models.families import ModelFamily
from generation.models.styles import MAX_WEIGHT, MIN_WEIGHT
from generation.modes import Mode

if TYPE_CHECKING:
    from bot.app import LcmBot

log = logging.getLogger(__name__)
MAX_SEED = 2**32 - 1

# Shared option help, so every command describes an option the same way.
HELP = {
    "prompt": "What to draw (up to 77 CLIP tokens are used; you are told if some are dropped)",
    "style": "A style (see /styles), or NAME:WEIGHT e.g. ink:0.6; styles given here replace a "
    "preset's",
    "style_2": "A second style to mix in, NAME or NAME:WEIGHT (at most 3 styles in all)",
    "style_3": "A third style to mix in, NAME or NAME:WEIGHT",
    "style_weight": f"Weight, {MIN_WEIGHT:g} to {MAX_WEIGHT:g}, of every style not given a :WEIGHT "
    "here (default: each style's own)",
    "preset": "One of your presets or this server's (see /preset list)",
    "size": "WIDTHxHEIGHT, multiples of 8, e.g. 512x768 (default: the model's size)",
    "aspect": "Shape of the picture: 16:9 is wide, 9:16 tall, 1:1 square (not with size)",
    # With an upload the default shape is the upload's own.
    "aspect_upload": "Shape of the picture (default: the upload's); the upload is centre-cropped "
    "to it",
    "steps": "Denoising steps, 1–8 (LCM needs only 2–8)",
    # Guidance and negative are rewritten for the model the bot runs (family_help).
    "guidance": "Guidance; above 1 turns on classifier-free guidance (the negative prompt), 2× the "
    "cost",
    "seed": "Seed for a repeatable image (default: random)",
    "count": "How many images, 1–4",
    "negative": "What to avoid; works only with guidance above 1 (which doubles the cost)",
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


# Spoken labels for the aspect choices: a screen reader reads the name, the bot gets the value.
ASPECT_LABELS = {
    "1:1": "1:1 square",
    "4:5": "4:5 portrait, slightly tall",
    "2:3": "2:3 portrait, tall",
    "3:4": "3:4 portrait, tall",
    "4:3": "4:3 landscape, wide",
    "3:2": "3:2 landscape, wide (photo)",
    "16:9": "16:9 widescreen, wide",
    "9:16": "9:16 phone screen, tall",
    "21:9": "21:9 cinema, very wide",
}
ASPECT_CHOICES = [app_commands.Choice(name=ASPECT_LABELS[a], value=a) for a in ASPECTS]


def aspect_value(aspect: app_commands.Choice[str] | None) -> str | None:
    return None if aspect is None else aspect.value


STYLE_HELP = ("style", "style_2", "style_3", "style_weight")
# In a preset the styles are saved, not replacing anything (yet).
PRESET_HELP = {
    **HELP,
    "style": "A style (see /styles), or NAME:WEIGHT e.g. ink:0.6 "
    f"(weights {MIN_WEIGHT:g} to {MAX_WEIGHT:g})",
}
STYLE_AUTOCOMPLETE = dict(style=style_autocomplete, style_2=style_autocomplete)
STYLE_AUTOCOMPLETE.update(style_3=style_autocomplete)


def family_help(family: ModelFamily) -> dict[str, str]:
    """Guidance and negative-prompt help that is true for the model this bot runs."""
    if family.is_full_lcm:
        return {
            "guidance": f"Guidance, 0–{family.max_guidance:g}; this model feeds it to a guidance "
            "embedding, at no extra cost",
            "negative": "Ignored by this model (a full LCM checkpoint has no negative prompt)",
        }
    return {
        "guidance": f"Guidance, 0–{family.max_guidance:g}; above 1 turns on classifier-free "
        "guidance (the negative prompt), 2× the cost",
        "negative": HELP["negative"],
    }


def describe_for_family(cog: commands.Cog, family: ModelFamily) -> None:
    """Rewrite the guidance and negative options of ``cog``'s commands for ``family``.

    The decorators run before the model is known. discord.py has no public setter for an
    option's description; each cog instance holds its own copy of every command's parameter
    dict, so replacing entries there changes only this bot's commands.
    """
    texts = family_help(family)
    for command in cog.walk_app_commands():
        if not isinstance(command, app_commands.Command):
            continue
        params = command._params
        for name, text in texts.items():
            if name in params:
                changes: dict = {"description": text}
                if name == "guidance":  # Discord then refuses a larger value as it is typed
                    changes["max_value"] = family.max_guidance
                params[name] = dataclasses.replace(params[name], **changes)


class GenerateCog(commands.Cog):
    """Every generation command: defer first, then presets, uploads, the journal and the engine."""

    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot
        describe_for_family(self, bot.family)

    async def run(self, interaction: discord.Interaction, given: CommandInput) -> None:
        """Options hold None where the user left one out: precedence then asks the next level."""
        # Defer before any download, database or GPU work: Discord allows 3 s for the first reply.
        # Privately: progress and refusals are for the user; the result is posted for everyone.
        await interaction.response.defer(ephemeral=True, thinking=True)
        what = f"/{interaction.command.qualified_name}" if interaction.command else "The command"

        async def draft_for(guild):
            return await self.bot.drafts.draft(interaction, given, guild)

        await self.bot.admissions.admit(interaction, what, draft_for)

    @app_commands.command(name="imagine", description="Draw a picture from a prompt")
    @app_commands.describe(
        **{
            k: HELP[k]
            for k in ("prompt", *STYLE_HELP, "preset", "size", "steps", "guidance", "seed")
        },
        **{k: HELP[k] for k in ("count", "negative", "quality", "aspect")},
    )
    @app_commands.choices(aspect=ASPECT_CHOICES)
    @app_commands.autocomplete(**STYLE_AUTOCOMPLETE, preset=preset_autocomplete)
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1500],
        style: str | None = None,
        style_2: str | None = None,
        style_3: str | None = None,
        style_weight: app_commands.Range[float, MIN_WEIGHT, MAX_WEIGHT] | None = None,
        preset: str | None = None,
        size: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        quality: Literal["full", "fast"] | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        options = dict(
            aspect=aspect_value(aspect),
            style=style,
            style_2=style_2,
            style_3=style_3,
            style_weight=style_weight,
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
        **{k: HELP[k] for k in ("image", "prompt", "strength", *STYLE_HELP, "preset", "steps")},
        **{k: HELP[k] for k in ("guidance", "seed", "count", "negative")},
        aspect=HELP["aspect_upload"],
    )
    @app_commands.choices(aspect=ASPECT_CHOICES)
    @app_commands.autocomplete(**STYLE_AUTOCOMPLETE, preset=preset_autocomplete)
    async def img2img(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 1500],
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        style: str | None = None,
        style_2: str | None = None,
        style_3: str | None = None,
        style_weight: app_commands.Range[float, MIN_WEIGHT, MAX_WEIGHT] | None = None,
        preset: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        options = dict(
            aspect=aspect_value(aspect),
            strength=strength,
            style=style,
            style_2=style_2,
            style_3=style_3,
            style_weight=style_weight,
            steps=steps,
            guidance=guidance,
            seed=seed,
            count=count,
            negative_prompt=negative,
        )
        await self.run(interaction, CommandInput(Mode.IMG2IMG, prompt, options, preset, image))

    @app_commands.command(name="inpaint", description="Repaint part of a picture")
    @app_commands.describe(
        **{k: HELP[k] for k in ("image", "prompt", "mask", "strength", *STYLE_HELP, "preset")},
        **{k: HELP[k] for k in ("steps", "guidance", "seed", "count", "negative")},
        aspect=HELP["aspect_upload"],
    )
    @app_commands.choices(aspect=ASPECT_CHOICES)
    @app_commands.autocomplete(**STYLE_AUTOCOMPLETE, preset=preset_autocomplete)
    async def inpaint(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 1500],
        mask: discord.Attachment | None = None,
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        style: str | None = None,
        style_2: str | None = None,
        style_3: str | None = None,
        style_weight: app_commands.Range[float, MIN_WEIGHT, MAX_WEIGHT] | None = None,
        preset: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        options = dict(
            aspect=aspect_value(aspect),
            strength=strength,
            style=style,
            style_2=style_2,
            style_3=style_3,
            style_weight=style_weight,
            steps=steps,
            guidance=guidance,
            seed=seed,
            count=count,
            negative_prompt=negative,
        )
        await self.run(
            interaction, CommandInput(Mode.INPAINT, prompt, options, preset, image, mask)
        )

    @app_commands.command(name="canny", description="Draw following the edges of a picture")
    @app_commands.describe(
        **{k: HELP[k] for k in ("image", "prompt", "adapter", "low_threshold", "high_threshold")},
        **{k: HELP[k] for k in ("conditioning_scale", *STYLE_HELP, "preset", "steps")},
        **{k: HELP[k] for k in ("guidance", "seed", "count", "negative")},
        aspect=HELP["aspect_upload"],
    )
    @app_commands.choices(aspect=ASPECT_CHOICES)
    @app_commands.autocomplete(**STYLE_AUTOCOMPLETE, preset=preset_autocomplete)
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
        style_2: str | None = None,
        style_3: str | None = None,
        style_weight: app_commands.Range[float, MIN_WEIGHT, MAX_WEIGHT] | None = None,
        preset: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        options = dict(
            aspect=aspect_value(aspect),
            adapter=adapter,
            low_threshold=low_threshold,
            high_threshold=high_threshold,
            conditioning_scale=conditioning_scale,
            style=style,
            style_2=style_2,
            style_3=style_3,
            style_weight=style_weight,
            steps=steps,
            guidance=guidance,
            seed=seed,
            count=count,
            negative_prompt=negative,
        )
        await self.run(interaction, CommandInput(Mode.CONTROLNET, prompt, options, preset, image))

    @app_commands.command(name="animate", description="Make a short animation (GIF)")
    @app_commands.describe(
        **{k: HELP[k] for k in ("prompt", "frames", "motion", "fps", *STYLE_HELP, "preset")},
        **{k: HELP[k] for k in ("steps", "guidance", "seed", "negative", "aspect")},
    )
    @app_commands.choices(aspect=ASPECT_CHOICES)
    @app_commands.autocomplete(
        **STYLE_AUTOCOMPLETE, motion=motion_autocomplete, preset=preset_autocomplete
    )
    async def animate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1500],
        frames: app_commands.Range[int, 8, 24] | None = None,
        motion: str | None = None,
        fps: app_commands.Range[int, 1, 30] | None = None,
        style: str | None = None,
        style_2: str | None = None,
        style_3: str | None = None,
        style_weight: app_commands.Range[float, MIN_WEIGHT, MAX_WEIGHT] | None = None,
        preset: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        options = dict(
            aspect=aspect_value(aspect),
            frames=frames,
            motion=motion,
            fps=fps,
            style=style,
            style_2=style_2,
            style_3=style_3,
            style_weight=style_weight,
            steps=steps,
            guidance=guidance,
            seed=seed,
            negative_prompt=negative,
        )
        await self.run(interaction, CommandInput(Mode.ANIMATE, prompt, options, preset))


async def setup(bot: LcmBot) -> None:
    await bot.add_cog(GenerateCog(bot))
