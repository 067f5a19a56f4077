"""PresetRepository on SQLite and PostgreSQL: scopes, upserts, lookups and precedence layers."""

from __future__ import annotations

import math

import pytest

from storage.database import Database
from storage.errors import InvalidValue, PresetNotFound
from storage.models import PresetScope
from storage.precedence import NamedParameters, PresetLayers

ALICE = 1_100_000_000_000_000_001  # Discord ids are 64-bit; use values past 2**53 and 2**32
BOB = 1_100_000_000_000_000_002
GUILD = 900_000_000_000_000_001
OTHER_GUILD = 900_000_000_000_000_002


async def test_upsert_creates_then_replaces_the_same_preset(db: Database):
    created = await db.presets.upsert(PresetScope.USER, ALICE, " portrait ", {"steps": 6})
    replaced = await db.presets.upsert("user", ALICE, "portrait", {"steps": 7, "size": "512x768"})

    assert replaced.id == created.id
    assert replaced.name == "portrait"
    assert replaced.parameters == {"steps": 7, "size": "512x768"}
    assert replaced.updated_at >= created.updated_at
    assert replaced.created_at == created.created_at
    stored = await db.presets.get(PresetScope.USER, ALICE, "portrait")
    assert stored is not None and stored.parameters == {"steps": 7, "size": "512x768"}


async def test_a_name_is_unique_only_within_its_scope_and_owner(db: Database):
    await db.presets.upsert(PresetScope.USER, ALICE, "fast", {"steps": 2})
    await db.presets.upsert(PresetScope.USER, BOB, "fast", {"steps": 3})
    await db.presets.upsert(PresetScope.SERVER, GUILD, "fast", {"steps": 4})
    await db.presets.upsert(PresetScope.SERVER, ALICE, "fast", {"steps": 5})  # a guild with that id

    assert (await db.presets.get(PresetScope.USER, ALICE, "fast")).parameters == {"steps": 2}
    assert (await db.presets.get(PresetScope.USER, BOB, "fast")).parameters == {"steps": 3}
    assert (await db.presets.get(PresetScope.SERVER, GUILD, "fast")).parameters == {"steps": 4}
    assert (await db.presets.get(PresetScope.SERVER, ALICE, "fast")).parameters == {"steps": 5}


async def test_list_is_one_owners_presets_by_name_ignoring_case(db: Database):
    for name in ("zebra", "apple", "Mango"):
        await db.presets.upsert(PresetScope.USER, ALICE, name, {"name": name})
    await db.presets.upsert(PresetScope.USER, BOB, "bob's", {})
    await db.presets.upsert(PresetScope.SERVER, ALICE, "server", {})

    names = [preset.name for preset in await db.presets.list(PresetScope.USER, ALICE)]
    assert names == ["apple", "Mango", "zebra"]
    assert await db.presets.list(PresetScope.USER, 12345) == []


async def test_delete_removes_one_preset_and_reports_whether_it_existed(db: Database):
    await db.presets.upsert(PresetScope.USER, ALICE, "a", {})
    await db.presets.upsert(PresetScope.USER, ALICE, "b", {})

    assert await db.presets.delete(PresetScope.USER, ALICE, "a") is True
    assert await db.presets.delete(PresetScope.USER, ALICE, "a") is False
    assert await db.presets.get(PresetScope.USER, ALICE, "a") is None
    assert await db.presets.get(PresetScope.USER, ALICE, "b") is not None


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_names_must_fit_a_discord_option(db: Database, name: str):
    with pytest.raises(InvalidValue, match="1 to 100 characters"):
        await db.presets.upsert(PresetScope.USER, ALICE, name, {})


@pytest.mark.parametrize(
    "parameters",
    [{"steps": object()}, {"guidance": math.nan}, {"seed": {1, 2}}, ["not", "a", "mapping"]],
)
async def test_parameters_must_be_plain_json(db: Database, parameters):
    with pytest.raises(InvalidValue, match="preset parameters"):
        await db.presets.upsert(PresetScope.USER, ALICE, "bad", parameters)
    assert await db.presets.list(PresetScope.USER, ALICE) == []


async def test_a_command_finds_the_users_preset_before_the_servers(db: Database):
    await db.presets.upsert(PresetScope.SERVER, GUILD, "house", {"from": "server"})
    await db.presets.upsert(PresetScope.SERVER, GUILD, "shared", {"from": "server"})
    await db.presets.upsert(PresetScope.USER, ALICE, "shared", {"from": "alice"})

    found = await db.presets.find("shared", user_id=ALICE, guild_id=GUILD)
    assert found.parameters == {"from": "alice"}
    assert (await db.presets.find("house", user_id=ALICE, guild_id=GUILD)).parameters == {
        "from": "server"
    }
    # Another server's presets and, in direct messages, every server's presets are out of reach.
    with pytest.raises(PresetNotFound, match="'house' among your presets or this server's"):
        await db.presets.find("house", user_id=ALICE, guild_id=OTHER_GUILD)
    with pytest.raises(PresetNotFound, match=r"'house' among your presets$"):
        await db.presets.find("house", user_id=ALICE, guild_id=None)


async def test_layers_bring_the_named_preset_and_both_defaults_in_one_read(db: Database):
    await db.presets.upsert(PresetScope.USER, ALICE, "mine", {"steps": 6})
    await db.presets.upsert(PresetScope.USER, ALICE, "named", {"count": 2})
    await db.presets.upsert(PresetScope.SERVER, GUILD, "house", {"guidance": 1.5})
    await db.users.upsert(ALICE, default_preset="mine")
    await db.guilds.upsert(GUILD, default_preset="house")

    layers = await db.presets.layers(user_id=ALICE, guild_id=GUILD, preset="named")
    assert layers == PresetLayers(
        preset=NamedParameters("named", {"count": 2}),
        user_default=NamedParameters("mine", {"steps": 6}),
        server_default=NamedParameters("house", {"guidance": 1.5}),
    )
    assert await db.presets.layers(user_id=BOB, guild_id=None) == PresetLayers()
    with pytest.raises(PresetNotFound):
        await db.presets.layers(user_id=ALICE, guild_id=GUILD, preset="typo")
