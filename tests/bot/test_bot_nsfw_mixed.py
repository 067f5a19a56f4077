"""Mixed safety flags: of two pictures in one result, the flagged one reaches no message at all,
and the other is posted, with its own pixels (a flag detached from its picture fails this)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from PIL import Image

from storage.models import NsfwPolicy
from tests.bot.test_bot_blocklist import admin, entries, with_log_channel
from tests.bot.test_bot_showcase import press
from tests.discord_double.reactions import react

SEED = 4242


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def every_attachment(double) -> list:
    """Every file in every version of every message, in every channel, public or private."""
    return [
        attachment
        for message in double.messages.values()
        for version in message.history
        for attachment in version.attachments
    ]


def embeddings(checker, pictures: list[np.ndarray]) -> torch.Tensor:
    """The safety model's own image embeddings, normalised (what it compares with concepts)."""
    model = checker.model
    images = [Image.fromarray(p) for p in pictures]
    clip_input = checker._processor(images=images, return_tensors="pt").pixel_values
    with torch.inference_mode():
        embeds = model.visual_projection(model.vision_model(clip_input.to(model.dtype))[1])
    return torch.nn.functional.normalize(embeds.float(), dim=-1)


@contextlib.contextmanager
def flags_only(checker, target: torch.Tensor, other: torch.Tensor):
    """Make the real safety model flag pictures that look like ``target`` and not ``other``:
    concept 0 becomes ``target``, its threshold halfway to ``other``; every other concept and
    every special-care concept can never fire."""
    model = checker.model
    saved = {
        name: getattr(model, name).data.clone()
        for name in (
            "concept_embeds",
            "concept_embeds_weights",
            "special_care_embeds_weights",
        )
    }
    similarity = float(target @ other)
    assert similarity < 0.99, f"the two pictures look alike to the checker ({similarity:.4f})"
    try:
        model.concept_embeds.data[0] = target.to(model.concept_embeds.dtype)
        model.concept_embeds_weights.data.fill_(10.0)
        model.concept_embeds_weights.data[0] = (1.0 + similarity) / 2
        model.special_care_embeds_weights.data.fill_(10.0)
        yield
    finally:
        for name, value in saved.items():
            getattr(model, name).data.copy_(value)


async def test_of_two_pictures_the_flagged_one_appears_in_no_message(harness, tiny_pipelines):
    double = harness.double
    await with_log_channel(double)  # its thumbnails are messages too
    options = {"prompt": "two lanterns", "count": 2, "seed": SEED, "steps": 1}
    first = await double.invoke("imagine", options)
    both = await first.wait_for_followup(timeout=30)
    await harness.idle()
    names = [a.filename for a in both.attachments]
    assert names == [f"lcm-{SEED}.png", f"lcm-{SEED + 1}.png"], "neither flagged at first"
    flagged, kept = (pixels(a.data) for a in both.attachments)
    assert not np.array_equal(flagged, kept)

    checker = tiny_pipelines.safety_checker()
    target, other = embeddings(checker, [flagged, kept])
    before = {a.id for a in every_attachment(double)}
    with flags_only(checker, target, other):
        record = await double.invoke("imagine", options)
        result = await record.wait_for_followup(timeout=30)
        await harness.idle()

    assert "1 image(s) withheld" in result.content
    job = (await harness.database.jobs.recent(user_id=double.user.id))[0]
    assert job.flagged_seeds == [SEED], "the job keeps its flags (the showcase reads them)"
    assert [a.filename for a in result.attachments] == [f"lcm-{SEED + 1}.png"]
    assert np.array_equal(pixels(result.attachments[0].data), kept), "the unflagged picture"
    new = [a for a in every_attachment(double) if a.id not in before]
    assert len(new) == 2, "the result and its thumbnail in the moderators' log"
    for attachment in new:
        assert f"{SEED}." not in attachment.filename, attachment.filename
        if attachment.content_type.startswith("image/"):
            assert not np.array_equal(pixels(attachment.data), flagged), attachment.filename


async def test_pictures_no_check_saw_in_an_nsfw_channel_reach_no_safe_channel(harness):
    """Under allow_in_nsfw_channels no safety check runs in an NSFW channel, and its pictures are
    posted plainly (no spoiler). Neither the log's thumbnail nor the showcase may carry them
    into a safe-for-work channel; an NSFW showcase channel takes them."""
    double, database = harness.double, harness.database
    await database.guilds.upsert(double.guild.id, nsfw_policy=NsfwPolicy.ALLOW_IN_NSFW_CHANNELS)
    after_dark = double.add_text_channel(double.guild, "after-dark", nsfw=True)
    showcase = double.add_text_channel(double.guild, "showcase")
    adult_showcase = double.add_text_channel(double.guild, "showcase-after-dark", nsfw=True)
    log_channel = await with_log_channel(double)  # pushes the guild with its new channels
    await admin(double, "showcase-channel", {"channel": showcase})
    options = {"prompt": "two lanterns", "count": 2, "seed": SEED, "steps": 1}
    record = await double.invoke("imagine", options, channel=after_dark)
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    names = [a.filename for a in result.attachments]
    assert names == [f"lcm-{SEED}.png", f"lcm-{SEED + 1}.png"], "shown plainly, unchecked"
    job = (await database.jobs.recent(user_id=double.user.id))[0]
    assert job.flagged_seeds is None, "no check ran"

    [entry] = entries(double, log_channel, f"job {job.id}")
    assert entry.attachments == [], "no unchecked thumbnail in the log channel"

    answer = await press(double, result, job.id)
    assert "NSFW" in answer and f"<#{showcase.id}>" in answer, answer
    await admin(double, "showcase-reactions", {"count": 1})
    listener = harness.bot.get_cog("ShowcaseReactions")
    handled = listener.handled
    await react(double, result, "⭐", double.owner)
    await double.wait_until(lambda: listener.handled > handled, 10, "the reaction handled")
    assert double.messages_in(showcase) == [], "neither the button nor a ⭐ posts it"

    await admin(double, "showcase-channel", {"channel": adult_showcase})
    assert "Posted to the showcase" in await press(double, result, job.id)
    [posted] = double.messages_in(adult_showcase)
    assert [a.data for a in posted.attachments] == [a.data for a in result.attachments]
