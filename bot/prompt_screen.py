"""Screens prompts against the operator's and the server's blocklist before any work is done."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.blocklist import Blocklist, Rule
from bot.mod_log import ModLog
from bot.mod_log_entries import blocked_text
from bot.refusal import Refusal
from storage.repositories.moderation import ModerationRepository

log = logging.getLogger(__name__)

# Says that a rule blocked it, never which: naming the rule teaches how to get around it.
BLOCKED = (
    "A server rule blocked this prompt, so nothing was started. "
    "Change the prompt (or the negative prompt) and try again."
)


class PromptBlocked(Refusal):
    def __init__(self) -> None:
        super().__init__(BLOCKED)


class PromptScreen:
    """The one blocklist check; every way a job is admitted calls ``check``."""

    def __init__(
        self, moderation: ModerationRepository, mod_log: ModLog, operator_rules: Sequence[Rule]
    ) -> None:
        self._moderation = moderation
        self._mod_log = mod_log
        self.operator_rules = tuple(operator_rules)

    async def blocklist(self, guild_id: int | None) -> Blocklist:
        """The operator's rules, then the server's own."""
        rules = list(self.operator_rules)
        if guild_id:
            entries = await self._moderation.blocklist(guild_id)
            rules += [Rule(str(e.kind), e.pattern, "server") for e in entries]
        return Blocklist(rules)

    async def check(
        self,
        *,
        event_id: int,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        what: str,
        prompts: Sequence[str],
        negative: str | None,
    ) -> None:
        """Raise PromptBlocked when a rule matches a prompt or the negative prompt.

        The attempt is logged (and written to the moderators' log, once per ``event_id``, the
        interaction's id) before the refusal is raised.
        """
        blocklist = await self.blocklist(guild_id)
        rule = blocklist.first_match([*prompts, negative])
        if rule is None:
            return
        log.info(
            "%s by user %s in guild %s blocked by the %s rule %r",
            what,
            user_id,
            guild_id,
            rule.source,
            rule.pattern,
        )
        prompt = " | ".join(dict.fromkeys(prompts))  # a sweep's prompts, each once
        await self._mod_log.record(
            guild_id,
            f"blocked:{event_id}",
            blocked_text(
                user_id=user_id,
                channel_id=channel_id or 0,
                what=what,
                prompt=prompt,
                negative=negative,
                rule=rule.describe(),
            ),
        )
        raise PromptBlocked
