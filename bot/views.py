"""Result buttons that survive restarts: the job id lives in the custom_id.

`lcm:<action>:<job_id>` acts on the result as a whole (or, on a result with several pictures,
offers the choice of picture); `lcm:<action>:<job_id>:<n>` acts on picture n (U1…U4, V1…V4, and
the buttons of the "which picture?" chooser). Custom_ids posted by older versions keep working.
"""

from __future__ import annotations

import re

import discord

from bot.logs import bind_log_context
from bot.nudge_views import add_edge_row

ACTIONS = {
    "reroll": ("Re-roll", "🎲"),
    "vary-subtle": ("Vary (subtle)", "🌱"),
    "vary": ("Vary (strong)", "🔀"),
    "upscale": ("Upscale", "🔍"),  # opens the upscale panel (×2, ×4, subtle or creative)
    "outpaint": ("Zoom out / pan", "🔭"),  # opens the zoom out and pan panel
    "remix": ("Remix", "✏️"),
    "init": ("Use as init", "🖼️"),
    "nudge": ("Nudge", "🎚️"),
    "showcase": ("Showcase", "🌟"),  # the owner posts it to the server's showcase channel
    "info": ("Info", "ℹ️"),
    "delete": ("Delete", "🗑️"),
}
# These start from the posted picture.
IMAGE_ONLY = ("vary-subtle", "vary", "upscale", "init", "nudge")
# These act on one picture.
PER_PICTURE = ("vary-subtle", "vary", "upscale", "remix", "init", "nudge")
# Zoom out / pan starts from one posted picture too.
IMAGE_ONLY, PER_PICTURE = (*IMAGE_ONLY, "outpaint"), (*PER_PICTURE, "outpaint")
# The panels behind Upscale and Zoom out / pan: action → (label, emoji). The label says it all,
# since a screen reader reads it and skips the emoji.
PANELS = {
    "upscale": {
        "up2": ("Upscale ×2", "🔍"),
        "up4": ("Upscale ×4", "🔍"),
        "up2c": ("Creative upscale ×2", "✨"),
        "up4c": ("Creative upscale ×4", "✨"),
    },
    "outpaint": {
        "zoom15": ("Zoom out ×1.5", "🔭"),
        "zoom2": ("Zoom out ×2", "🔭"),
        "pan-left": ("Pan left", "⬅️"),
        "pan-right": ("Pan right", "➡️"),
        "pan-up": ("Pan up", "⬆️"),
        "pan-down": ("Pan down", "⬇️"),
    },
}
PANEL_ACTIONS = {action: shown for panel in PANELS.values() for action, shown in panel.items()}
# What each panel's message says above its buttons: a button has no tooltip to explain itself.
PANEL_HELP = {
    "upscale": (
        "Upscale picture {n}: ×2 or ×4 with the upscaler alone (keeps the picture as it is), or "
        "creative ×2 or ×4: the upscaler, then a light redraw with your prompt that adds detail "
        "(slower)."
    ),
    "outpaint": (
        "Zoom out or pan picture {n}: a larger canvas around it (×1.5 or ×2), or half a picture "
        "more on one side; the new area is painted from your prompt and blended into the picture."
    ),
}
# U1…U5 and V1…V5 fit one action row each; a larger result offers a chooser instead.
MAX_PICTURE_ROW = 5
# The U and V rows: upscale picture n, vary picture n (strongly).
ROW_ACTIONS = {"upscale": "Upscale", "vary": "Vary"}


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=(
        # Longest first, so "vary-subtle" is not read as "vary".
        r"lcm:(?P<action>"
        + "|".join(sorted((*ACTIONS, *PANEL_ACTIONS), key=len, reverse=True))
        + ")"
        r":(?P<job_id>[0-9]{1,19})(?::(?P<image>[1-9]))?"
    ),
):
    """One result button; discord.py rebuilds it from the custom_id after a restart."""

    def __init__(
        self, action: str, job_id: int, image: int | None = None, *, label: str | None = None
    ) -> None:
        default_label, emoji = ACTIONS.get(action) or PANEL_ACTIONS[action]
        style = discord.ButtonStyle.danger if action == "delete" else discord.ButtonStyle.secondary
        custom_id = f"lcm:{action}:{job_id}" + (f":{image}" if image is not None else "")
        super().__init__(
            discord.ui.Button(
                label=label or default_label,
                emoji=None if label else emoji,
                style=style,
                custom_id=custom_id,
            )
        )
        self.action = action
        self.job_id = job_id
        self.image = image

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> JobButton:
        image = int(match["image"]) if match["image"] else None
        return cls(match["action"], int(match["job_id"]), image)

    async def callback(self, interaction: discord.Interaction) -> None:
        # This runs in a task of its own: its log lines carry who clicked what.
        bind_log_context(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            command=button_command(self.action, self.image),  # the same as the job it starts
        )
        bot = interaction.client
        await bot.result_actions.handle(self.action, self.job_id, interaction, image=self.image)
        bot.metrics.commands.labels(f"button:{self.action}").inc()


def action_label(action: str) -> str:
    """What a button says (a result's own, or a panel's)."""
    return (ACTIONS.get(action) or PANEL_ACTIONS[action])[0]


def button_command(action: str, image: int | None) -> str:
    """The command= of a click and of the job it starts: `button:vary` or `button:vary:3`."""
    return f"button:{action}" + (f":{image}" if image is not None else "")


def result_view(
    job_id: int, *, animation: bool = False, pictures: int = 1, edges: bool = False
) -> discord.ui.View:
    """The buttons under a result; with 2 to 5 pictures, a U row and a V row come first; with
    ``edges`` (a canny result) the canny loop's row comes last."""
    view = discord.ui.View(timeout=None)
    rows = 0
    per_picture_rows = not animation and 2 <= pictures <= MAX_PICTURE_ROW
    if per_picture_rows:
        # "Upscale 2" rather than "U2": a screen reader reads the label, and says what it does.
        for action, short in ROW_ACTIONS.items():
            for n in range(1, pictures + 1):
                button = JobButton(action, job_id, n, label=f"{short} {n}")
                button.item.row = rows
                view.add_item(button)
            rows += 1
    actions = [
        action
        for action in ACTIONS
        if not (animation and action in IMAGE_ONLY)
        and not (per_picture_rows and action in ROW_ACTIONS)
    ]
    for index, action in enumerate(actions):
        button = JobButton(action, job_id)
        button.item.row = rows + index // 5
        view.add_item(button)
    if edges:
        add_edge_row(view, job_id, rows + (len(actions) + 4) // 5)
    return view


def picture_chooser(job_id: int, action: str, pictures: int) -> discord.ui.View:
    """The "which picture?" buttons for an action on a result with several pictures."""
    view = discord.ui.View(timeout=None)
    label = ACTIONS[action][0]
    for n in range(1, pictures + 1):
        button = JobButton(action, job_id, n, label=f"{label}: picture {n}")
        button.item.row = (n - 1) // 5
        view.add_item(button)
    return view


def panel_view(job_id: int, panel: str, image: int) -> discord.ui.View:
    """The Upscale or Zoom out / pan choices for picture ``image`` (1 on a single picture)."""
    view = discord.ui.View(timeout=None)
    for index, (action, (label, emoji)) in enumerate(PANELS[panel].items()):
        button = JobButton(action, job_id, image, label=label)
        button.item.emoji = emoji
        button.item.row = index // 4
        view.add_item(button)
    return view
