"""member_limits and the UserGate on real rows: the most generous role per limit, over @everyone."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.admission import Draft, request_from_draft
from bot.cooldowns import Cooldowns, UserGate
from bot.grow_actions import grow_parameters
from bot.jobs import JobContext
from bot.member_limits import member_limits
from bot.refusal import Refusal
from bot.settings import Settings
from generation.modes import Mode
from storage.models import Guild, QuotaSettings, RoleLimits

GUILD = 900_000_000_000_000_001
BOOSTER, PATRON = 700_000_000_000_000_001, 700_000_000_000_000_002
NAMES = {GUILD: "everyone", BOOSTER: "Booster", PATRON: "Patron"}
SETTINGS = Settings(_env_file=None, lcm_cooldown_s=3, lcm_queue_per_user=5)


def role(role_id: int, **limits) -> RoleLimits:
    fields = dict.fromkeys(
        ("cooldown_seconds", "max_queued_per_user", "max_count", "max_steps", "max_side"), None
    )
    return RoleLimits(guild_id=GUILD, role_id=role_id, **(fields | {"daily_images": None} | limits))


def limits_of(*roles: RoleLimits, guild: Guild | None = None, daily: int | None = None):
    quota = QuotaSettings(guild_id=GUILD, daily_images=daily, reset_hour=0)
    return member_limits(guild or Guild.defaults(GUILD), quota, roles, NAMES, SETTINGS)


def test_per_limit_the_most_generous_role_wins_and_a_shorter_cooldown_is_more():
    limits = limits_of(
        role(BOOSTER, cooldown_seconds=1, max_queued_per_user=8),
        role(PATRON, cooldown_seconds=2, max_queued_per_user=12, daily_images=50),
        daily=10,
    )
    assert (limits.cooldown_seconds, limits.sources["cooldown_seconds"]) == (1, "the @Booster role")
    assert (limits.max_queued_per_user, limits.daily_images) == (12, 50)
    assert (
        limits.sources["max_queued_per_user"]
        == limits.sources["daily_images"]
        == ("the @Patron role")
    )


def test_roles_only_give_more_than_the_server_and_everyone_sets_the_baseline():
    guild = Guild.defaults(GUILD)
    guild.cooldown_seconds, guild.max_count = 10, 2
    stricter = limits_of(role(BOOSTER, cooldown_seconds=30, max_count=1), guild=guild)
    assert (stricter.cooldown_seconds, stricter.sources["cooldown_seconds"]) == (
        10,
        "this server's setting",
    )
    assert stricter.max_count == 2
    # No quota and the model's own size at the server: a role cannot be more generous than none.
    unlimited = limits_of(role(BOOSTER, daily_images=5, max_side=512))
    assert (unlimited.daily_images, unlimited.max_side) == (None, None)
    baseline = limits_of(role(GUILD, max_side=256, cooldown_seconds=5), role(BOOSTER, max_side=512))
    assert (baseline.max_side, baseline.sources["max_side"]) == (512, "the @Booster role")
    assert (baseline.cooldown_seconds, baseline.sources["cooldown_seconds"]) == (
        5,
        "the @everyone role",
    )
    assert limits_of().sources["cooldown_seconds"] == "the bot's default"


def test_the_gate_takes_the_members_cooldown_and_queue_cap():
    now = [0.0]
    waiting: list[int] = []
    gate = UserGate(
        waiting_jobs=lambda user_id: waiting,
        settings=SETTINGS,
        cooldowns=Cooldowns(clock=lambda: now[0]),
    )
    guild = Guild.defaults(GUILD)
    booster = limits_of(role(BOOSTER, cooldown_seconds=0, max_queued_per_user=7))
    plain = limits_of()
    gate.claim(1, guild, booster)
    gate.claim(1, guild, booster)  # no cooldown for the booster
    gate.claim(2, guild, plain)
    with pytest.raises(Refusal, match="another job in 3 s"):
        gate.claim(2, guild, plain)
    waiting.extend(range(5))
    with pytest.raises(Refusal, match="You already have 5 jobs waiting \\(you may have 5 here\\)"):
        gate.claim(3, guild, plain)
    gate.claim(4, guild, booster)


def grown_request(tiny_family, action: str, side: int):
    """The request a grow button really builds from a side × side picture of a txt2img job."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (90, 120, 200)).save(buffer, "PNG")
    parent = {"mode": "txt2img", "prompt": "a fox", "size": f"{side}x{side}", "steps": 4}
    values = grow_parameters(parent, action)
    context = JobContext(user_id=1, guild_id=GUILD, channel_id=2, command="upscale")
    inputs = {"image": buffer.getvalue()}
    draft = Draft(Mode(values["mode"]), "a fox", values, context, inputs=inputs)
    request, _ = request_from_draft(draft, tiny_family, None)
    return request


def test_upscale_buttons_pass_a_four_step_and_picture_sized_limit(tiny_family):
    guild = Guild.defaults(GUILD)
    guild.max_steps = 4  # the natural LCM limit
    limits = limits_of(role(GUILD, max_side=128), guild=guild)
    for action in ("up2", "up4", "up2c", "up4c"):
        # The recipe says 8 steps at strength 0.3: a creative pass runs 2, a subtle one none;
        # the output is 2× or 4× the 128 px picture, but the upscale works in tiles.
        limits.check(grown_request(tiny_family, action, 128))
    # The limits still hold: on the picture to upscale, and on the steps other modes run.
    with pytest.raises(Refusal, match="the picture to upscale is 192×192"):
        limits.check(grown_request(tiny_family, "up2", 192))
    with pytest.raises(Refusal, match=r"at most 2 steps here .*this job asks for 4"):
        limits_of(role(GUILD, max_steps=2)).check(grown_request(tiny_family, "zoom2", 64))
    with pytest.raises(Refusal, match="this one is 256×256"):
        limits.check(grown_request(tiny_family, "zoom2", 128))  # outpaint renders its canvas
