"""Who may start a job now: the per-user queue cap and the cooldown, claimed in one step."""

from __future__ import annotations

import time
from collections.abc import Callable, Sized

from bot.member_limits import MemberLimits
from bot.refusal import Refusal
from bot.settings import Settings
from storage.models import Guild


class CooldownClaim:
    """One user's claim on their next job slot; ``release()`` hands it back if no job came of it."""

    def __init__(self, cooldowns: Cooldowns, user_id: int, before: float | None) -> None:
        self._cooldowns = cooldowns
        self.user_id = user_id
        self.before = before  # the user's previous start, restored on release
        self._released = False

    def release(self) -> None:
        """Undo the claim (idempotent); a later claim by the same user is left alone."""
        if self._released:
            return
        self._released = True
        self._cooldowns._release(self)


class Cooldowns:
    """When each user may start the next job (in memory: a restart forgives everyone).

    ``claim`` checks and takes the slot in one synchronous step: with no await in between, two
    commands of one user racing through the event loop cannot both see the slot free.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._last: dict[int, float] = {}
        self._holder: dict[int, CooldownClaim] = {}  # the claim that set each user's _last

    def remaining(self, user_id: int, cooldown_s: float) -> float:
        last = self._last.get(user_id)
        return 0.0 if last is None else max(0.0, last + cooldown_s - self._clock())

    def claim(self, user_id: int, cooldown_s: float) -> CooldownClaim:
        """Take the user's slot now, or raise Refusal with the time left."""
        remaining = self.remaining(user_id, cooldown_s)
        if remaining > 0:
            raise Refusal(f"Slow down a little: you can start another job in {remaining:.0f} s.")
        claim = CooldownClaim(self, user_id, self._last.get(user_id))
        self._last[user_id] = self._clock()
        self._holder[user_id] = claim
        return claim

    def _release(self, claim: CooldownClaim) -> None:
        if self._holder.get(claim.user_id) is not claim:
            return  # a newer claim has taken the slot since: it stands
        del self._holder[claim.user_id]
        if claim.before is None:
            del self._last[claim.user_id]
        else:
            self._last[claim.user_id] = claim.before


class UserGate:
    """The per-user queue cap and the cooldown, each with the server's override if it set one."""

    def __init__(
        self,
        *,
        waiting_jobs: Callable[[int], Sized],
        settings: Settings,
        cooldowns: Cooldowns | None = None,
    ) -> None:
        self._waiting_jobs = waiting_jobs
        self._settings = settings  # read at each claim: the operator's defaults
        self.cooldowns = cooldowns or Cooldowns()

    def claim(
        self, user_id: int, guild: Guild, limits: MemberLimits | None = None
    ) -> CooldownClaim:
        """Take the user's next slot, or raise Refusal saying why not.

        ``limits`` are the member's own (their roles over the server's); without them, the
        server's settings over the operator's defaults.

        Synchronous on purpose: the cooldown is checked and claimed with no await in between, so
        concurrent commands of one user cannot all slip through. The caller must release the
        claim if no job comes of it (a refused upload, a full queue, a storage error): the
        cooldown paces accepted jobs, not attempts, so a user who fixes a typo does not wait
        (a blocked prompt is the exception: it keeps the claim, see AdmissionService).
        """
        self.check_queue(user_id, guild, limits)
        if limits is not None:
            cooldown_s = limits.cooldown_seconds
        else:
            cooldown_s = (
                guild.cooldown_seconds
                if guild.cooldown_seconds is not None
                else self._settings.lcm_cooldown_s
            )
        return self.cooldowns.claim(user_id, float(cooldown_s))

    def check_queue(self, user_id: int, guild: Guild, limits: MemberLimits | None = None) -> None:
        """Refuse when the user already has as many jobs waiting as they may have here.

        Alone (no cooldown) for an unpaced job: a nudge click, which still takes a place in the
        queue unless it replaces the waiting render of its own session.
        """
        if limits is not None:
            cap = limits.max_queued_per_user
        else:
            cap = guild.max_queued_per_user or self._settings.lcm_queue_per_user
        waiting = len(self._waiting_jobs(user_id))
        if waiting >= cap:
            raise Refusal(
                f"You already have {waiting} jobs waiting (you may have {cap} here); "
                "wait for one to finish or /cancel one."
            )
