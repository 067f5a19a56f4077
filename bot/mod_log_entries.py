"""What the moderators' log says about each kind of event, and a result's thumbnail."""

from __future__ import annotations

import io

import discord
from PIL import Image

THUMBNAIL_SIDE = 160
PROMPT_SHOWN = 600  # characters of a prompt the log repeats


def _quote(label: str, text: str | None) -> str:
    if not text:
        return ""
    shown = discord.utils.escape_markdown(text[:PROMPT_SHOWN])
    more = "…" if len(text) > PROMPT_SHOWN else ""
    return f"\n{label}: {shown}{more}"


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def blocked_text(
    *, user_id: int, channel_id: int, what: str, prompt: str, negative: str | None, rule: str
) -> str:
    return (
        f"🚫 **Blocked prompt** · <@{user_id}> (`{user_id}`) in <#{channel_id}> · {what}"
        f" · matched {rule}" + _quote("Prompt", prompt) + _quote("Negative", negative)
    )


def posted_text(
    *, job_id: int, user_id: int, command: str, prompt: str, link: str, withheld: int
) -> str:
    note = f" · {withheld} image(s) withheld by the safety policy" if withheld else ""
    return (
        f"🖼️ **Result posted** · job {job_id} · <@{user_id}> (`{user_id}`) · {command}{note}"
        + _quote("Prompt", prompt)
        + f"\n{link}"
    )


def deleted_text(*, job_id: int, owner_id: int, deleted_by: int, prompt: str) -> str:
    by = "its owner" if deleted_by == owner_id else f"<@{deleted_by}> (`{deleted_by}`)"
    return (
        f"🗑️ **Result deleted** · job {job_id} by <@{owner_id}> (`{owner_id}`), deleted by {by}"
        + _quote("Prompt", prompt)
    )


def setting_text(*, user_id: int, change: str) -> str:
    return f"⚙️ **Server setting changed** by <@{user_id}> (`{user_id}`): {change}"


def first_unflagged_png(result) -> bytes | None:
    """The first picture (or animation's first frame) the safety check did not flag, as PNG."""
    flags = result.nsfw or (False,) * len(result.seeds)
    pictures = result.images or tuple(frames[0] for frames in result.animations)
    for picture, flagged in zip(pictures, flags, strict=False):
        if not flagged:
            buffer = io.BytesIO()
            picture.save(buffer, "PNG")
            return buffer.getvalue()
    return None


def log_picture(result, channel_nsfw: bool) -> bytes | None:
    """The picture a result's log entry shows: the first the safety check did not flag, and
    none from an NSFW channel where no check ran (the log channel may be safe for work)."""
    if result.nsfw is None and channel_nsfw:
        return None
    return first_unflagged_png(result)


def thumbnail(data: bytes) -> bytes | None:
    """A small PNG of a posted picture (the first frame of an animation); None if unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)
            small = image.convert("RGB")
        small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        buffer = io.BytesIO()
        small.save(buffer, "PNG")
        return buffer.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
