"""Interaction data from the synced commands: options, resolved objects, selects, modal answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import payloads
from .limits import Upload
from .state import ADMINISTRATOR, Channel, Role, User

if TYPE_CHECKING:
    from .double import DiscordDouble, UploadLike


def find_command(double: DiscordDouble, name: str, channel: Channel) -> tuple[dict[str, Any], bool]:
    if channel.guild_id is not None:
        for command in double.registered_commands.get(channel.guild_id, []):
            if command["name"] == name and command.get("type", 1) == 1:
                return command, True
    for command in double.registered_commands.get(None, []):
        if command["name"] == name and command.get("type", 1) == 1:
            return command, False
    scope = f"guild {channel.guild_id} or globally" if channel.guild_id else "globally"
    raise LookupError(f"/{name} was never synced ({scope}); users cannot run it")


def check_available(
    double: DiscordDouble,
    command: dict[str, Any],
    channel: Channel,
    user: User,
    ignore_permissions: bool,
) -> None:
    contexts = command.get("contexts")
    context = 1 if channel.is_dm else 0
    if contexts is not None and context not in contexts:
        raise LookupError(f"/{command['name']} is not offered in context {context}")
    if channel.is_dm:
        if command.get("dm_permission") is False:
            raise LookupError(f"/{command['name']} is guild-only")
        return
    required = command.get("default_member_permissions")
    if required is None or ignore_permissions:
        return
    guild = double.guilds[channel.guild_id or 0]
    has = double.member_permissions(guild, user)
    if has & ADMINISTRATOR == 0 and has & int(required) != int(required):
        # default_member_permissions hides the command; an admin could override that,
        # which ignore_default_permissions=True stands for.
        raise PermissionError(f"{user.name} cannot see /{command['name']}")


def build_options(
    double: DiscordDouble,
    definitions: list[dict[str, Any]],
    values: dict[str, Any],
    resolved: dict[str, dict[str, Any]],
    uploads: list[UploadLike],
    channel: Channel,
    *,
    focused: str | None,
) -> list[dict[str, Any]]:
    known = {d["name"] for d in definitions}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; the command has {sorted(known)}")
    built = []
    for definition in definitions:
        name, kind = definition["name"], definition["type"]
        if name == focused:
            built.append({"name": name, "type": kind, "value": str(values[name]), "focused": True})
            continue
        if name in values:
            value = values[name]
        elif kind == 11 and uploads and focused is None:
            value = uploads.pop(0)
        else:
            if definition.get("required") and focused is None:
                raise ValueError(f"option {name!r} is required")
            continue
        if kind == 11 and focused is not None:
            continue  # autocomplete interactions carry no attachments
        built.append(
            {
                "name": name,
                "type": kind,
                "value": option_value(double, definition, value, resolved, channel),
            }
        )
    if uploads and focused is None:
        raise ValueError("more attachments than attachment options")
    return built


def option_value(
    double: DiscordDouble,
    definition: dict[str, Any],
    value: Any,
    resolved: dict[str, dict[str, Any]],
    channel: Channel,
) -> Any:
    name, kind = definition["name"], definition["type"]
    if kind in (3, 4, 10, 5):
        check_scalar(definition, value)
        return value
    if kind == 11:
        upload = as_upload(value)
        attachment = double.store.store_file(upload, None, None)
        resolved.setdefault("attachments", {})[str(attachment.id)] = payloads.attachment(attachment)
        return str(attachment.id)
    if kind in (6, 9) and isinstance(value, User):
        resolve_user(double, value, resolved, channel.guild_id)
        return str(value.id)
    if kind in (8, 9) and isinstance(value, Role):
        guild = next(g for g in double.guilds.values() if value.id in g.roles)
        resolved.setdefault("roles", {})[str(value.id)] = payloads.role(value, guild)
        return str(value.id)
    if kind == 7 and isinstance(value, Channel):
        types = definition.get("channel_types")
        if types and value.type not in types:
            raise ValueError(f"option {name!r} takes channel types {types}, not {value.type}")
        data = payloads.channel(value, double.guilds.get(value.guild_id or 0))
        data["permissions"] = str(double.bot_permissions_in(value))
        resolved.setdefault("channels", {})[str(value.id)] = data
        return str(value.id)
    raise ValueError(f"option {name!r} (type {kind}) cannot take {value!r}")


def resolve_user(
    double: DiscordDouble, user: User, resolved: dict[str, dict[str, Any]], guild_id: int | None
) -> None:
    resolved.setdefault("users", {})[str(user.id)] = payloads.user(user)
    member = double.members.get((guild_id or 0, user.id))
    if member is not None:
        data = payloads.member(member, user)
        del data["user"]  # resolved members come without their user
        resolved.setdefault("members", {})[str(user.id)] = data


def select_values(component: dict[str, Any], values: Sequence[str] | None) -> list[str]:
    chosen = list(values or [])
    low, high = component.get("min_values", 1), component.get("max_values", 1)
    if not low <= len(chosen) <= high:
        raise ValueError(f"select takes {low} to {high} values, got {len(chosen)}")
    offered = {o["value"] for o in component.get("options") or []}
    if component["type"] == 3 and not set(chosen) <= offered:
        raise ValueError(f"values {chosen} are not among the options {sorted(offered)}")
    return chosen


def as_upload(value: Any) -> Upload:
    if isinstance(value, Upload):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3):
        return Upload(*value)
    raise ValueError(
        f"an attachment option takes an Upload or (filename, bytes[, type]): {value!r}"
    )


def check_scalar(definition: dict[str, Any], value: Any) -> None:
    name, kind = definition["name"], definition["type"]
    ok = {
        3: isinstance(value, str),
        4: isinstance(value, int) and not isinstance(value, bool),
        10: isinstance(value, int | float) and not isinstance(value, bool),
        5: isinstance(value, bool),
    }[kind]
    if not ok:
        raise ValueError(f"option {name!r} (type {kind}) cannot take {value!r}")
    choices = definition.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"option {name!r} takes one of {[c['value'] for c in choices]}")
    if kind == 3:
        low, high = definition.get("min_length", 0), definition.get("max_length", 6000)
        if not low <= len(value) <= high:
            raise ValueError(f"option {name!r} takes {low} to {high} characters")
    elif kind in (4, 10):
        low, high = definition.get("min_value"), definition.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"option {name!r} takes values within [{low}, {high}]")


def subcommand_path(
    command: dict[str, Any], subcommand: str | None
) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], list[dict[str, Any]]]]:
    """The leaf option definitions of ``command [group] sub`` and how to nest values back."""
    definitions = command.get("options") or []
    has_subcommands = any(d["type"] in (1, 2) for d in definitions)
    parts = subcommand.split() if subcommand else []
    if has_subcommands and not parts:
        raise ValueError(f"/{command['name']} needs a subcommand")
    path: list[dict[str, Any]] = []
    for part in parts:
        found = next((d for d in definitions if d["name"] == part and d["type"] in (1, 2)), None)
        if found is None:
            raise ValueError(f"/{command['name']} has no subcommand {part!r}")
        path.append(found)
        definitions = found.get("options") or []
    if path and path[-1]["type"] != 1:
        raise ValueError(f"{subcommand!r} is a group; name one of its subcommands")

    def wrap(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for node in reversed(path):
            options = [{"name": node["name"], "type": node["type"], "options": options}]
        return options

    return definitions, wrap


def modal_answer(component: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    kind = component["type"]
    if kind == 1:
        return {
            "type": 1,
            "components": [modal_answer(c, values) for c in component["components"]],
        }
    if kind == 18:
        return {"type": 18, "component": modal_answer(component["component"], values)}
    custom_id = component.get("custom_id")
    if custom_id is None:
        return {"type": kind}
    if kind == 4:
        value = values.get(custom_id, "")
        if component.get("required", True) and not value:
            raise ValueError(f"text input {custom_id!r} is required")
        return {"type": 4, "custom_id": custom_id, "value": value}
    return {"type": kind, "custom_id": custom_id, "values": list(values.get(custom_id, []))}
