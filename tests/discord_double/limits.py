"""Discord's limits, the rules the double enforces and the error each one answers with."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass
class Limits:
    """Every limit the double enforces; scale the time ones down in tests instead of sleeping."""

    response_deadline: float = 3.0  # first response to an interaction, seconds
    token_lifetime: float = 15 * 60.0  # follow-ups and @original edits, seconds
    upload_limit: int = 10 * MIB  # per file; a guild may raise it (boosts)
    max_files: int = 10
    max_content: int = 2000
    max_embeds: int = 10
    max_embed_chars: int = 6000
    max_choices: int = 25  # autocomplete results and static choices
    max_options: int = 25
    max_commands: int = 100
    daily_command_creates: int = 200  # per guild
    global_rate: int = 50  # requests per second, per bot
    # Seconds between two edits of one message below which an edit is recorded as too fast;
    # None turns the check off (Discord only rate limits, the product wants ~1 edit/s).
    min_edit_interval: float | None = None
    # Two identical messages from one interaction (or one channel) within this many seconds
    # count as a duplicate delivery; None turns the check off.
    duplicate_window: float | None = 5.0


class Rule(enum.StrEnum):
    """What a violation broke; the value is what shows up in reports."""

    NO_RESPONSE = "no_response"  # nothing acknowledged the interaction within the deadline
    UNKNOWN_INTERACTION = "unknown_interaction"  # callback for an id/token never issued: 404 10062
    UNKNOWN_WEBHOOK = "unknown_webhook"  # webhook route with a token never issued: 404 10015
    LATE_RESPONSE = "late_response"  # 404 10062 Unknown interaction
    DOUBLE_ACK = "double_ack"  # 400 40060
    INVALID_CALLBACK = "invalid_callback"  # callback type not valid for this interaction
    NOT_ACKNOWLEDGED = "not_acknowledged"  # follow-up before the first response: 404 10015
    TOKEN_EXPIRED = "token_expired"  # 401 50027
    FILE_TOO_LARGE = "file_too_large"  # 413 40005
    TOO_MANY_FILES = "too_many_files"  # 400 30015
    CONTENT_TOO_LONG = "content_too_long"  # 400 50035
    TOO_MANY_EMBEDS = "too_many_embeds"  # 400 50035
    EMBEDS_TOO_LONG = "embeds_too_long"  # 400 50035
    INVALID_FORM = "invalid_form"  # 400 50035, anything else malformed
    EMPTY_MESSAGE = "empty_message"  # 400 50006
    UNKNOWN_MESSAGE = "unknown_message"  # 404 10008
    UNKNOWN_CHANNEL = "unknown_channel"  # 404 10003
    MISSING_ACCESS = "missing_access"  # 403 50001
    MISSING_PERMISSIONS = "missing_permissions"  # 403 50013
    PING = "ping"  # @everyone/@here left pingable; recorded only
    EDIT_TOO_FAST = "edit_too_fast"  # recorded only
    DUPLICATE = "duplicate"  # the same message delivered twice; recorded only
    GLOBAL_RATE = "global_rate"  # more than 50 requests in one second: 429
    COMMAND_CREATES = "command_creates"  # over 200 creates per day; recorded only
    UNAUTHORIZED = "unauthorized"  # bad or missing bot token: 401 0
    UNEXPECTED_ROUTE = "unexpected_route"  # a route the double does not know: 404 0


@dataclass
class DiscordError(Exception):
    """An error answer, shaped like Discord's: ``{"message", "code", "errors"?}``."""

    status: int
    code: int
    message: str
    rule: Rule | None = None
    errors: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.status} (code {self.code}): {self.message}"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def form_error(rule: Rule, field: str, code: str, message: str) -> DiscordError:
    """A 400 50035 Invalid Form Body naming the field, as Discord nests it."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field.split(".")):
        errors = {part: errors}
    return DiscordError(400, 50035, "Invalid Form Body", rule, errors)


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request, or a file a test attaches to a command."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


def check_message(
    payload: Mapping[str, Any],
    files: Sequence[Upload],
    *,
    limits: Limits,
    upload_limit: int,
    editing: bool = False,
) -> None:
    """Raise the DiscordError Discord would answer for this message body, if any."""
    if len(files) > limits.max_files:
        raise DiscordError(
            400,
            30015,
            f"Maximum number of attachments in a message reached ({limits.max_files})",
            Rule.TOO_MANY_FILES,
        )
    for upload in files:
        if len(upload.data) > upload_limit:
            raise DiscordError(413, 40005, "Request entity too large", Rule.FILE_TOO_LARGE)
    content = payload.get("content")
    if content is not None and len(content) > limits.max_content:
        raise form_error(
            Rule.CONTENT_TOO_LONG,
            "content",
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {limits.max_content} or fewer in length.",
        )
    embeds = payload.get("embeds") or []
    if len(embeds) > limits.max_embeds:
        raise form_error(
            Rule.TOO_MANY_EMBEDS,
            "embeds",
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {limits.max_embeds} or fewer in length.",
        )
    if sum(embed_chars(e) for e in embeds) > limits.max_embed_chars:
        raise form_error(
            Rule.EMBEDS_TOO_LONG,
            "embeds",
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {limits.max_embed_chars}",
        )
    for index, embed in enumerate(embeds):
        check_embed(embed, f"embeds.{index}")
    check_components(payload.get("components") or [], payload.get("flags", 0))
    if not editing and not (
        content or embeds or files or payload.get("components") or payload.get("sticker_ids")
    ):
        raise DiscordError(400, 50006, "Cannot send an empty message", Rule.EMPTY_MESSAGE)


def embed_chars(embed: Mapping[str, Any]) -> int:
    """The characters Discord counts toward the 6000 limit of all embeds of a message."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for field in embed.get("fields") or []:
        total += len(field.get("name") or "") + len(field.get("value") or "")
    return total


_EMBED_FIELD_LIMITS = {"title": 256, "description": 4096}


def check_embed(embed: Mapping[str, Any], where: str) -> None:
    """The per-field embed limits (title 256, description 4096, 25 fields of 256/1024, ...)."""
    for key, limit in _EMBED_FIELD_LIMITS.items():
        if len(embed.get(key) or "") > limit:
            raise _too_long(f"{where}.{key}", limit)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise _too_long(f"{where}.fields", 25)
    for index, field in enumerate(fields):
        if len(field.get("name") or "") > 256:
            raise _too_long(f"{where}.fields.{index}.name", 256)
        if len(field.get("value") or "") > 1024:
            raise _too_long(f"{where}.fields.{index}.value", 1024)
    if len((embed.get("footer") or {}).get("text") or "") > 2048:
        raise _too_long(f"{where}.footer.text", 2048)
    if len((embed.get("author") or {}).get("name") or "") > 256:
        raise _too_long(f"{where}.author.name", 256)


def _too_long(field: str, limit: int) -> DiscordError:
    return form_error(
        Rule.INVALID_FORM, field, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
    )


COMPONENTS_V2 = 1 << 15


def check_components(components: Sequence[Mapping[str, Any]], flags: int) -> None:
    """Action rows of classic messages: 5 rows of 5 buttons or one select, ids of 100 chars."""
    if flags & COMPONENTS_V2:
        # Components v2 layouts have other rules; only the custom_id ones are checked.
        _check_custom_ids(walk_components(components), "components")
        return
    if len(components) > 5:
        raise _too_long("components", 5)
    for row_index, row in enumerate(components):
        where = f"components.{row_index}"
        if row.get("type") != 1:
            raise form_error(
                Rule.INVALID_FORM, f"{where}.type", "UNION_TYPE_CHOICES", "Must be an action row."
            )
        children = row.get("components") or []
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if not children or len(children) > 5 or (selects and len(children) > 1):
            raise form_error(
                Rule.INVALID_FORM,
                f"{where}.components",
                "BASE_TYPE_BAD_LENGTH",
                "An action row holds 1 to 5 buttons or one select menu.",
            )
        for index, child in enumerate(children):
            if child.get("type") == 2:
                _check_button(child, f"{where}.components.{index}")
    _check_custom_ids(walk_components(components), "components")


def _check_button(button: Mapping[str, Any], where: str) -> None:
    is_link = button.get("style") == 5
    if is_link != bool(button.get("url")) or (is_link and button.get("custom_id")):
        raise form_error(
            Rule.INVALID_FORM,
            where,
            "COMPONENT_INVALID",
            "A link button needs a url and no custom_id; other buttons need a custom_id.",
        )
    if len(button.get("label") or "") > 80:
        raise _too_long(f"{where}.label", 80)


def _check_custom_ids(components: Iterable[Mapping[str, Any]], where: str) -> None:
    seen: set[str] = set()
    for component in components:
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if not 1 <= len(custom_id) <= 100:
            raise _too_long(f"{where}.custom_id", 100)
        if custom_id in seen:
            raise form_error(
                Rule.INVALID_FORM,
                where,
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen.add(custom_id)


def walk_components(components: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """Every component of a tree of rows, sections, containers and labels."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), Mapping):
                yield from walk_components([component[key]])


_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def check_commands(commands: Sequence[Mapping[str, Any]], limits: Limits) -> None:
    """What Discord validates on a bulk overwrite of application commands."""
    if len(commands) > limits.max_commands:
        raise _too_long("", limits.max_commands)
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        where = str(index)
        kind = command.get("type", 1)
        name = command.get("name", "")
        key = (name, kind)
        if key in seen:
            raise form_error(
                Rule.INVALID_FORM,
                f"{where}.name",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add(key)
        if kind == 1:
            _check_chat_input(command, where, limits)


def _check_chat_input(option: Mapping[str, Any], where: str, limits: Limits) -> None:
    name = option.get("name", "")
    if not _COMMAND_NAME.match(name) or name != name.lower():
        raise form_error(
            Rule.INVALID_FORM,
            f"{where}.name",
            "APPLICATION_COMMAND_INVALID_NAME",
            f"Command name is invalid: {name!r}",
        )
    if not 1 <= len(option.get("description") or "") <= 100:
        raise form_error(
            Rule.INVALID_FORM,
            f"{where}.description",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        )
    children = option.get("options") or []
    if len(children) > limits.max_options:
        raise _too_long(f"{where}.options", limits.max_options)
    optional_seen = False
    for index, child in enumerate(children):
        child_where = f"{where}.options.{index}"
        if child.get("type") in (1, 2):
            _check_chat_input(child, child_where, limits)
            continue
        _check_chat_input({**child, "options": []}, child_where, limits)
        if child.get("required"):
            if optional_seen:
                raise form_error(
                    Rule.INVALID_FORM,
                    f"{child_where}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        choices = child.get("choices") or []
        if len(choices) > limits.max_choices:
            raise _too_long(f"{child_where}.choices", limits.max_choices)
        if choices and child.get("autocomplete"):
            raise form_error(
                Rule.INVALID_FORM,
                f"{child_where}.autocomplete",
                "AUTOCOMPLETE_CHOICES_INVALID",
                "Autocomplete cannot be set on an option with choices",
            )


def check_choices(choices: Sequence[Mapping[str, Any]], option_type: int, limits: Limits) -> None:
    """An autocomplete result: at most 25 choices, names of 1-100, values of the option's type."""
    if len(choices) > limits.max_choices:
        raise _too_long("data.choices", limits.max_choices)
    for index, choice in enumerate(choices):
        where = f"data.choices.{index}"
        if not 1 <= len(choice.get("name") or "") <= 100:
            raise form_error(
                Rule.INVALID_FORM,
                f"{where}.name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        value = choice.get("value")
        ok = {
            3: isinstance(value, str) and len(value) <= 100,
            4: isinstance(value, int) and not isinstance(value, bool),
            10: isinstance(value, int | float) and not isinstance(value, bool),
        }.get(option_type, True)
        if not ok:
            raise form_error(
                Rule.INVALID_FORM,
                f"{where}.value",
                "BASE_TYPE_CHOICES",
                f"Value {value!r} does not fit option type {option_type}.",
            )
