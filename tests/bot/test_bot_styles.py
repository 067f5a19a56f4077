"""Mixed styles with weights, and guidance with a negative prompt, from the option to the engine."""

from __future__ import annotations

import pytest

from bot.cogs.generate import family_help
from generation.images.encode import read_png_parameters
from generation.models.families import HUB_FAMILIES
from generation.models.styles import StyleChoice
from storage.models import PresetScope
from tests.bot.conftest import make_bot, mask_bytes, png_bytes
from tests.bot.test_bot_commands import record_message, reply_of
from tests.discord_double.state import ADMINISTRATOR

GENERATING = ("imagine", "img2img", "inpaint", "canny", "animate")
THREE = {"style": "ink:0.6", "style_2": "neon", "style_3": "chalk:-0.5", "style_weight": 1.25}
# Sorted by name, as the engine batches them; neon takes style_weight, the others their own.
THREE_RAN = (StyleChoice("chalk", -0.5), StyleChoice("ink", 0.6), StyleChoice("neon", 1.25))
THREE_JOURNALED = [
    {"name": "chalk", "weight": -0.5},
    {"name": "ink", "weight": 0.6},
    {"name": "neon", "weight": 1.25},
]
# What the previous version journaled: one `style` and its resolved weight.
LEGACY_PARAMETERS = {
    "mode": "txt2img",
    "prompt": "an old kite",
    "negative_prompt": "",
    "size": "64x64",
    "steps": 2,
    "guidance": 1.0,
    "seed": 77,
    "count": 1,
    "strength": 0.6,
    "style": "ink",
    "style_weight": 0.5,
    "adapter": "controlnet",
    "low_threshold": 100,
    "high_threshold": 200,
    "conditioning_scale": 0.8,
    "frames": 16,
    "fps": 8,
    "motion": None,
    "quality": "full",
}


def job_id_of(message) -> int:
    return int(message.custom_ids()[0].split(":")[2])


async def run_job(harness, command="imagine", **options):
    record = await harness.double.invoke(command, {"prompt": "a red kite", "steps": 2, **options})
    message = await record.wait_for_followup(timeout=30)
    await harness.idle()
    return message, await harness.database.jobs.get(job_id_of(message))


async def test_three_styles_are_journaled_run_and_rerolled_with_the_same_weights(harness):
    double, runner = harness.double, harness.runner
    first, job = await run_job(harness, seed=5, **THREE)

    assert job.parameters["styles"] == THREE_JOURNALED
    assert runner.requests[-1].styles == THREE_RAN
    png = read_png_parameters(first.attachments[0].data)
    assert png["styles"] == {"chalk": -0.5, "ink": 0.6, "neon": 1.25}
    assert "Styles: chalk -0.5 (option) · ink 0.6 (option) · neon 1.25 (option)" in first.content

    click = await double.click(first, f"lcm:reroll:{job.id}")
    again = await click.wait_for_followup(timeout=30)
    await harness.idle()
    rerolled = await harness.database.jobs.get(job_id_of(again))
    assert rerolled.parent_id == job.id and rerolled.seeds != job.seeds
    assert rerolled.parameters["styles"] == THREE_JOURNALED
    assert runner.requests[-1].styles == THREE_RAN
    assert "Styles: chalk -0.5 · ink 0.6 · neon 1.25" in again.content

    # /history re-opens the job with a re-roll button of its own: the same styles again.
    history = await double.invoke("history")
    await reply_of(history)
    listing = record_message(double, history)
    reopen = await double.click(listing, listing.custom_ids()[-1], values=[str(job.id)])
    await reply_of(reopen)
    reopened = record_message(double, reopen)
    from_history = await double.click(reopened, f"lcm:reroll:{job.id}")
    third = await from_history.wait_for_followup(timeout=30)
    await harness.idle()
    assert (await harness.database.jobs.get(job_id_of(third))).parameters["styles"] == (
        THREE_JOURNALED
    )
    assert runner.requests[-1].styles == THREE_RAN
    assert len(runner.requests) == 3


async def test_a_preset_keeps_its_styles_and_the_options_override_them_as_a_whole(harness):
    double, runner = harness.double, harness.runner
    options = {"name": "mix", "style": "ink", "style_2": "neon:1.5", "style_weight": 0.9}
    saved = await reply_of(await double.invoke("preset", options, subcommand="save"))
    assert "styles: ink, neon:1.5" in saved and "style weight: 0.9" in saved
    stored = await harness.database.presets.get(PresetScope.USER, double.user.id, "mix")
    assert stored.parameters["styles"] == [
        {"name": "ink", "weight": None},
        {"name": "neon", "weight": 1.5},
    ]
    assert stored.parameters["style_weight"] == 0.9

    # The preset's styles: ink at the preset's style weight, neon at its own.
    message, job = await run_job(harness, preset="mix")
    assert runner.requests[-1].styles == (StyleChoice("ink", 0.9), StyleChoice("neon", 1.5))
    assert "Styles: ink 0.9 (preset:mix) · neon 1.5 (preset:mix)" in message.content
    assert job.parameters["styles"] == [
        {"name": "ink", "weight": 0.9},
        {"name": "neon", "weight": 1.5},
    ]

    # style_weight typed now re-weights all of the preset's styles.
    message, _ = await run_job(harness, preset="mix", style_weight=0.3)
    assert runner.requests[-1].styles == (StyleChoice("ink", 0.3), StyleChoice("neon", 0.3))
    assert "ink 0.3 (preset:mix; weight from option)" in message.content

    # A style typed now replaces the preset's styles and its style weight: chalk runs alone, at
    # its allow-list default (0.7), not at the preset's 0.9.
    message, job = await run_job(harness, preset="mix", style="chalk")
    assert runner.requests[-1].styles == (StyleChoice("chalk", 0.7),)
    assert job.parameters["styles"] == [{"name": "chalk", "weight": 0.7}]
    assert "Styles: chalk 0.7 (option; default weight)" in message.content


async def test_jobs_and_presets_stored_by_the_previous_version_still_run(harness, tiny_pipelines):
    double, runner, database = harness.double, harness.runner, harness.database
    await database.presets.upsert(PresetScope.USER, double.user.id, "old", {"style": "neon"})
    await run_job(harness, preset="old")
    assert runner.requests[-1].styles == (StyleChoice("neon", 1.0),)

    await harness.bot.close()
    legacy = await database.jobs.record(
        user_id=double.user.id,
        channel_id=double.channel.id,
        guild_id=double.guild.id,
        command="imagine",
        parameters=LEGACY_PARAMETERS,
        seeds=[77],
    )
    fresh = make_bot(harness.settings, harness.engine, database, tiny_pipelines)
    async with double.running(fresh):
        recovered = await double.wait_for_message(
            double.channel, lambda m: bool(m.attachments) and m.interaction_id is None, timeout=30
        )
        await fresh.jobs.wait_idle()
        assert fresh.recovered == 1
        assert runner.requests[-1].styles == (StyleChoice("ink", 0.5),)
        assert runner.requests[-1].seed == 77, "recovery keeps the promised seed"
        assert "Styles: ink 0.5" in recovered.content

        click = await double.click(recovered, f"lcm:reroll:{legacy.id}")
        again = await click.wait_for_followup(timeout=30)
        await fresh.jobs.wait_idle()
    rerolled = await database.jobs.get(job_id_of(again))
    assert rerolled.parent_id == legacy.id
    assert rerolled.parameters["styles"] == [{"name": "ink", "weight": 0.5}]
    assert "style" not in rerolled.parameters, "new rows use the new form only"
    assert runner.requests[-1].styles == (StyleChoice("ink", 0.5),)


async def test_a_reroll_of_a_style_the_server_has_since_disallowed_is_refused(harness):
    double = harness.double
    first, job = await run_job(harness, style="neon", style_2="ink")
    admin = double.add_user("admin")
    double.add_member(double.guild, admin, permissions=ADMINISTRATOR)
    await double.push_guilds()
    await reply_of(
        await double.invoke("server", {"allowed_styles": "ink"}, subcommand="settings", user=admin)
    )
    click = await double.click(first, f"lcm:reroll:{job.id}")
    reply = await click.wait_for_original(lambda m: bool(m.content), timeout=30)
    assert reply.ephemeral and reply.content == (
        f"⚠️ style (from job {job.id}): the style 'neon' is not allowed here (allowed: ink)"
    )
    assert len(harness.runner.requests) == 1, "only the first job ran"


BAD_STYLES = [
    pytest.param(
        {"style": "oil"},
        "style: unknown style 'oil' (allowed: ink, neon, chalk; see /styles)",
        id="unknown",
    ),
    pytest.param(
        {"style": "ink", "style_3": "Oil:0.5"},
        "style_3: unknown style 'oil' (allowed: ink, neon, chalk; see /styles)",
        id="unknown-in-style_3",
    ),
    pytest.param(
        {"style": "ink:5"},
        "style: weight 5 for 'ink' is out of range (allowed: weights from -2 to 2)",
        id="weight-out-of-range",
    ),
    pytest.param(
        {"style_2": "neon:strong"},
        "style_2: weight 'strong' is not a number "
        "(allowed: NAME or NAME:WEIGHT, e.g. ink or ink:0.6)",
        id="weight-not-a-number",
    ),
    pytest.param(
        {"style": "ink", "style_2": "INK:0.3"},
        "style_2: 'ink' is picked twice "
        "(allowed: each style once; set its weight with NAME:WEIGHT)",
        id="same-style-twice",
    ),
    pytest.param(
        {"style": "ink, neon", "style_2": "chalk", "style_3": "oil"},
        "style: 4 styles picked (ink, neon, chalk, oil) (allowed: at most 3 in all)",
        id="more-than-three",
    ),
    pytest.param(
        {"style_weight": 0.5},
        "style_weight: there is no style to apply it to (allowed: pick a style with style, "
        "or use a preset that has styles)",
        id="weight-without-a-style",
    ),
]


@pytest.mark.parametrize(("options", "message"), BAD_STYLES)
async def test_bad_style_input_is_refused_privately_before_any_work(harness, options, message):
    record = await harness.double.invoke("imagine", {"prompt": "x", **options})
    reply = await record.wait_for_original(lambda m: bool(m.content), timeout=30)
    assert reply.ephemeral and reply.content == f"⚠️ {message}"
    assert record.followups == []
    assert harness.runner.calls == [], "no GPU time was spent"
    assert await harness.database.jobs.recent(user_id=harness.double.user.id) == []


async def test_a_preset_with_bad_styles_is_not_saved(harness):
    double = harness.double
    for options, problem in (
        ({"style": "oil"}, "style: unknown style 'oil'"),
        ({"style": "ink", "style_2": "ink"}, "style_2: 'ink' is picked twice"),
        ({"style_weight": 1.0}, "style_weight: there is no style to apply it to"),
    ):
        text = await reply_of(
            await double.invoke("preset", {"name": "bad", **options}, subcommand="save")
        )
        assert text.startswith(f"⚠️ {problem}"), text
    assert await harness.database.presets.get(PresetScope.USER, double.user.id, "bad") is None


IMAGE_INPUTS = {
    "inpaint": {"image": ("photo.png", png_bytes()), "mask": ("mask.png", mask_bytes())},
    "canny": {"image": ("sketch.png", png_bytes())},
    "animate": {"frames": 8},
}


@pytest.mark.parametrize("command", ["inpaint", "canny", "animate"])
async def test_guidance_and_negative_reach_the_engine(harness, command):
    options = {**IMAGE_INPUTS[command], "guidance": 2.5, "negative": "blurry, text"}
    if command != "animate":
        options["count"] = 1
    message, job = await run_job(harness, command, **options)
    ran = harness.runner.requests[-1]
    assert (ran.guidance, ran.negative_prompt) == (2.5, "blurry, text")
    assert (job.parameters["guidance"], job.parameters["negative_prompt"]) == (2.5, "blurry, text")
    assert "guidance 2.5" in message.content
    assert "negative prompt ignored" not in message.content, "an LCM-LoRA family uses it"


async def test_every_generating_command_offers_the_style_options_with_help(harness):
    commands = {c["name"]: c for c in harness.double.commands_for(harness.double.guild)}
    for name in GENERATING:
        options = {o["name"]: o for o in commands[name]["options"]}
        for key in ("style", "style_2", "style_3"):
            assert options[key]["autocomplete"], (name, key)
        assert "NAME:WEIGHT" in options["style"]["description"]
        weight = options["style_weight"]
        assert (weight["type"], weight["min_value"], weight["max_value"]) == (10, -2.0, 2.0)
        # The tiny family is LCM-LoRA shaped: guidance above 1 is classifier-free guidance.
        guidance = options["guidance"]
        assert "classifier-free" in guidance["description"] and guidance["max_value"] == 8.0
        assert "guidance above 1" in options["negative"]["description"]
    save = next(o for o in commands["preset"]["options"] if o["name"] == "save")
    assert {"style", "style_2", "style_3", "style_weight"} <= {o["name"] for o in save["options"]}


def test_a_full_lcm_family_says_the_negative_prompt_is_ignored():
    texts = family_help(HUB_FAMILIES["dreamshaper-lcm"])
    assert "guidance embedding" in texts["guidance"] and "0–15" in texts["guidance"]
    assert texts["negative"].startswith("Ignored by this model")
    assert all(len(text) <= 100 for text in texts.values())


async def test_style_autocomplete_skips_picked_styles_and_keeps_weights(harness):
    double = harness.double

    async def suggest(focused, typed, **others):
        record = await double.autocomplete("imagine", focused, typed, {"prompt": "x", **others})
        await record.wait_for_response()
        return [choice["value"] for choice in record.choices]

    assert await suggest("style_2", "", style="ink:0.5") == ["neon", "chalk"]
    assert await suggest("style_3", "", style="ink", style_2="chalk") == ["neon"]
    assert await suggest("style", "ink:0.6, n") == ["ink:0.6, neon"]
    assert await suggest("style", "ch:1.2") == ["chalk:1.2"]
