"""member_limits and the UserGate on real rows: the most generous role per limit, over @everyone."""

from __future__ import annotations

import pytest

from bot.cooldowns import Cooldowns, UserGate
from bot.member_limits import member_limits
from bot.refusal import Refusal
from bot.settings import Settings
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
