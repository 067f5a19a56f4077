"""Daily image quotas: the day's window by the server's reset hour, taking and refusing images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.member_limits import MemberLimits
from bot.refusal import Refusal
from storage.models import QuotaSettings, utcnow
from storage.repositories.quotas import QuotaRepository

Clock = Callable[[], datetime]  # now, timezone-aware (UTC)


def period_start(now: datetime, reset_hour: int) -> datetime:
    """The last reset at or before ``now``: today's reset hour, or yesterday's if not yet."""
    start = now.replace(hour=reset_hour, minute=0, second=0, microsecond=0)
    return start if start <= now else start - timedelta(days=1)


def reset_text(resets_at: datetime) -> str:
    """E.g. "06:00 UTC (<t:…:R>)": the hour in words, and Discord's relative time for the reader."""
    return f"{resets_at:%H:%M} UTC (<t:{int(resets_at.timestamp())}:R>)"


@dataclass(frozen=True)
class QuotaStatus:
    """A member's day: the quota (None: none), what they used, and when it starts again."""

    limit: int | None
    used: int
    resets_at: datetime
    source: str

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(frozen=True)
class QuotaTaken:
    """Images taken for one admission; handed back if the job is not accepted after all."""

    quotas: Quotas
    guild_id: int
    user_id: int
    images: int
    start: datetime

    async def release(self) -> None:
        if self.images:
            await self.quotas.repository.give_back(
                self.guild_id, self.user_id, self.images, period_start=self.start
            )


class Quotas:
    """Counts the images each member is admitted per day, on the clock it is given."""

    def __init__(self, repository: QuotaRepository, clock: Clock = utcnow) -> None:
        self.repository = repository
        self.clock = clock  # a test passes a clock it moves; the reset follows it

    async def status(
        self, guild_id: int, user_id: int, limits: MemberLimits, settings: QuotaSettings
    ) -> QuotaStatus:
        start = period_start(self.clock(), settings.reset_hour)
        used = await self.repository.used(guild_id, user_id, start)
        return QuotaStatus(
            limits.daily_images, used, start + timedelta(days=1), limits.sources["daily_images"]
        )

    def refuse_if_spent(self, status: QuotaStatus) -> None:
        """Refuse before any work when nothing is left today."""
        if status.left == 0:
            raise Refusal(_spent(status))

    async def take(
        self,
        guild_id: int,
        user_id: int,
        images: int,
        limits: MemberLimits,
        settings: QuotaSettings,
    ) -> QuotaTaken:
        """Take ``images`` from today's quota, or raise Refusal saying what is left and when."""
        start = period_start(self.clock(), settings.reset_hour)
        if limits.daily_images is None:
            return QuotaTaken(self, guild_id, user_id, 0, start)
        taken = await self.repository.take(
            guild_id, user_id, images, limit=limits.daily_images, period_start=start
        )
        if not taken.granted:
            status = QuotaStatus(
                limits.daily_images,
                taken.used,
                start + timedelta(days=1),
                limits.sources["daily_images"],
            )
            if status.left == 0:
                raise Refusal(_spent(status))
            raise Refusal(
                f"This job makes {images} images, and you have {status.left} of your "
                f"{status.limit} left today ({status.source}): ask for fewer, or wait until "
                f"the quota resets at {reset_text(status.resets_at)}."
            )
        return QuotaTaken(self, guild_id, user_id, images, start)


def _spent(status: QuotaStatus) -> str:
    return (
        f"You have used all {status.limit} of today's images on this server ({status.source}). "
        f"The quota resets at {reset_text(status.resets_at)}."
    )
