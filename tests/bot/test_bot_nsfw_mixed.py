"""Mixed safety flags: of two pictures in one result, the flagged one reaches no message at all,
and the other is posted, with its own pixels (a flag detached from its picture fails this)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from PIL import Image

from tests.bot.test_bot_blocklist import with_log_channel

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
    assert [a.filename for a in result.attachments] == [f"lcm-{SEED + 1}.png"]
    assert np.array_equal(pixels(result.attachments[0].data), kept), "the unflagged picture"
    new = [a for a in every_attachment(double) if a.id not in before]
    assert len(new) == 2, "the result and its thumbnail in the moderators' log"
    for attachment in new:
        assert f"{SEED}." not in attachment.filename, attachment.filename
        if attachment.content_type.startswith("image/"):
            assert not np.array_equal(pixels(attachment.data), flagged), attachment.filename
