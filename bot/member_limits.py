"""One member's limits in one server: the most generous of their roles over the server's own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.refusal import Refusal
from bot.settings import Settings
from generation.modes import Mode
from generation.modes.requests import MAX_STEPS, GenerationRequest
from storage.models import Guild, QuotaSettings, RoleLimits
from storage.precedence import role_source
from storage.repositories.limits import ROLE_LIMIT_RANGES

# The most a slash command can ask for: the built-in ceiling where nobody set a limit.
BUILT_IN_MAX_COUNT = 4
SERVER = "this server's setting"
BOT_DEFAULT = "the bot's default"

# For each limit: whether a bigger number is more generous (a shorter cooldown is the generous one).
BIGGER_IS_MORE = {
    "cooldown_seconds": False,
    "max_queued_per_user": True,
    "max_count": True,
    "max_steps": True,
    "max_side": True,
    "daily_images": True,
}


def engine_queue_ceiling(settings: Settings) -> int:
    """The engine's per-user queue cap: a ceiling above every cap a member may be given.

    The member's own cap (their roles over the server's over LCM_QUEUE_PER_USER) is enforced by
    the bot's UserGate at admission; a role or /server settings may raise it up to the top of
    ROLE_LIMIT_RANGES, so an engine capped at LCM_QUEUE_PER_USER would refuse what the role allows.
    """
    return max(settings.lcm_queue_per_user, ROLE_LIMIT_RANGES["max_queued_per_user"][1])


@dataclass(frozen=True)
class MemberLimits:
    """The values that apply to one member, and where each came from (for messages and /quota).

    A None ``max_side`` means the model family's own limit; a None ``daily_images`` no quota.
    """

    cooldown_seconds: float
    max_queued_per_user: int
    max_count: int
    max_steps: int
    max_side: int | None
    daily_images: int | None
    sources: Mapping[str, str] = field(default_factory=dict)
    # Each limit as it is for a member without roles (@everyone, the server's, the bot's), and the
    # role that gives this member more, if one does: for the precedence under a result.
    baseline: Mapping[str, object] = field(default_factory=dict)
    granted_by: Mapping[str, str] = field(default_factory=dict)

    def role_sources(self, request: GenerationRequest) -> dict[str, str]:
        """The request's values that only a role allows, as precedence sources.

        E.g. {"count limit": "role @Patron"} for 3 images where the server allows 1: the result
        then says which role let the member go beyond the server's limits.
        """
        used = {
            "max_count": ("count", request.count),
            "max_steps": ("steps", steps_run(request)),
            "max_side": ("size", limited_side(request)[0]),
        }
        granted = {}
        for name, (key, value) in used.items():
            base = self.baseline.get(name)
            if name in self.granted_by and base is not None and value > base:
                granted[f"{key} limit"] = role_source(self.granted_by[name])
        return granted

    def check(self, request: GenerationRequest) -> None:
        """Refuse a validated request beyond this member's limits, saying which and from where."""
        if request.count > self.max_count:
            raise Refusal(
                f"You may make at most {self.max_count} images per job here "
                f"({self.sources['max_count']}); this job asks for {request.count}."
            )
        steps = steps_run(request)
        if steps > self.max_steps:
            raise Refusal(
                f"You may use at most {self.max_steps} steps here "
                f"({self.sources['max_steps']}); this job asks for {steps}."
            )
        side, (width, height) = limited_side(request)
        if self.max_side is not None and side > self.max_side:
            upscale = request.mode == Mode.UPSCALE
            what = "the picture to upscale" if upscale else "this one"
            advice = "Upscale a smaller picture." if upscale else "Pick a smaller size or aspect."
            raise Refusal(
                f"Pictures here may be at most {self.max_side} pixels on their longer side "
                f"({self.sources['max_side']}); {what} is {width}×{height}. {advice}"
            )


def steps_run(request: GenerationRequest) -> int:
    """The denoising steps a validated request really runs: what a steps limit is about.

    A limit on steps bounds GPU work per job, so it counts the scheduler's steps, not the
    recipe's number: img2img-like modes run steps × strength (an upscale's creative pass is 8 at
    0.3, i.e. 2), and a subtle upscale runs the upscaler model alone, no denoising step at all.
    Comparing the recipe's 8 with a server's 4 would refuse every upscale button there.
    """
    if request.steps is None:
        return 0
    if request.mode == Mode.UPSCALE and request.upscale_kind != "creative":
        return 0
    return request.denoising_steps


def limited_side(request: GenerationRequest) -> tuple[int, tuple[int, int]]:
    """The longer side a size limit applies to, and the size it is measured on.

    Usually the output. An upscale's is its input picture: the upscaler and the creative pass
    both work in tiles (generation/modes/upscale.py), so neither memory nor steps grow with the
    output, and a limit on the output would forbid ever upscaling a picture of the server's
    largest size. Outpaint renders its whole canvas in one pass, so its output stays limited.
    """
    if request.mode == Mode.UPSCALE and request.image is not None:
        width, height = request.image.size
    else:
        width, height = request.width or 0, request.height or 0
    return max(width, height), (width, height)


def member_limits(
    guild: Guild,
    quota: QuotaSettings,
    roles: Sequence[RoleLimits],
    role_names: Mapping[int, str],
    settings: Settings,
) -> MemberLimits:
    """Per limit, the most generous of the member's roles that set it and the server's value.

    The server's value is the @everyone role's limit where one is set (every member holds
    @everyone; it is also the only way to limit the picture size for all), else the server's
    setting (/server settings, /server quota), else the bot's default. Other roles only ever give
    more than that: that is how community servers use them (boosters and patrons get more), and
    it keeps a member's limits from depending on which of their roles happens to be stricter.
    """
    everyone = next((role for role in roles if role.role_id == guild.id), None)
    server = {
        "cooldown_seconds": _first(guild.cooldown_seconds, settings.lcm_cooldown_s),
        "max_queued_per_user": _first(guild.max_queued_per_user, settings.lcm_queue_per_user),
        "max_count": _first(guild.max_count, BUILT_IN_MAX_COUNT),
        "max_steps": _first(guild.max_steps, MAX_STEPS),
        "max_side": (None, BOT_DEFAULT),
        "daily_images": (quota.daily_images, SERVER if quota.daily_images else BOT_DEFAULT),
    }
    chosen: dict[str, object] = {}
    sources: dict[str, str] = {}
    baseline: dict[str, object] = {}
    granted_by: dict[str, str] = {}
    for name, more in BIGGER_IS_MORE.items():
        value, source = server[name]
        if everyone is not None and getattr(everyone, name) is not None:
            value, source = getattr(everyone, name), "the @everyone role"
        baseline[name] = value
        for role in roles:
            if role is everyone:
                continue
            offered = getattr(role, name)
            if offered is not None and _more_generous(offered, value, more):
                role_name = str(role_names.get(role.role_id, role.role_id))
                value, source = offered, f"the @{role_name} role"
                granted_by[name] = role_name
        chosen[name], sources[name] = value, source
    return MemberLimits(
        **chosen,  # type: ignore[arg-type]
        sources=sources,
        baseline=baseline,
        granted_by=granted_by,
    )


def _first(server_value, default) -> tuple[object, str]:
    return (server_value, SERVER) if server_value is not None else (default, BOT_DEFAULT)


def _more_generous(offered: int, current, bigger_is_more: bool) -> bool:
    if current is None:  # no limit at all (the family's size, no quota): nothing is more
        return False
    return offered > current if bigger_is_more else offered < current


def limit_lines(limits: MemberLimits) -> list[str]:
    """One line per limit with where it came from, for /quota and /server limits."""
    size = "the model's largest" if limits.max_side is None else f"{limits.max_side} px"
    daily = "no quota" if limits.daily_images is None else f"{limits.daily_images}"
    values = {
        "cooldown_seconds": f"cooldown: {limits.cooldown_seconds:g} s",
        "max_queued_per_user": f"jobs waiting: {limits.max_queued_per_user}",
        "max_count": f"images per job: {limits.max_count}",
        "max_steps": f"steps per job: {limits.max_steps}",
        "max_side": f"longer side: {size}",
        "daily_images": f"images per day: {daily}",
    }
    return [f"• {text} ({limits.sources[name]})" for name, text in values.items()]
