"""Happy paths: login, READY, sync, invoke → defer → follow-up with a file → edit → button."""

from __future__ import annotations

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest

from tests.discord_double import MIB, DiscordDouble, Rule
from tests.discord_double.limits import walk_components

from .sample_bot import PNG, SampleBot


async def test_login_ready_and_command_sync(double: DiscordDouble, bot: SampleBot) -> None:
    assert bot.user is not None and bot.user.id == double.bot_user.id
    assert bot.application_id == double.application_id
    assert [g.id for g in bot.guilds] == [double.guild.id]
    channel = bot.get_channel(double.channel.id)
    assert isinstance(channel, discord.TextChannel) and channel.name == "general"
    assert double.sync_count(double.guild) == 1 and double.sync_count() == 1
    assert [c["name"] for c in double.commands_for()] == ["ping"]
    restyle = next(c for c in double.commands_for(double.guild) if c["name"] == "restyle")
    options = [(o["name"], o["type"], o.get("autocomplete", False)) for o in restyle["options"]]
    assert options == [("image", 11, False), ("style", 3, True)]
    assert double.gateway.count("IDENTIFY") == 1 and double.gateway.count("HEARTBEAT") >= 1
    assert [c.route for c in double.calls][:2] == ["get_me", "app_info"]
    assert double.unexpected_calls == [] and double.violations == []


async def test_defer_followup_with_file_edits_and_button(
    double: DiscordDouble, bot: SampleBot
) -> None:
    record = await double.invoke("render", {"prompt": "a red fox", "job": 7})
    response = await record.wait_for_response()
    assert response.type == 5 and response.delay < double.limits.response_deadline
    await double.wait_until(lambda: "render" in bot.finished)

    message = record.followups[0]
    # The first follow-up after a "thinking" defer resolves the placeholder: same message.
    assert message.id == record.original_id
    assert [v.via for v in message.history] == [
        "callback",
        "followup",
        "edit_webhook_message",
        "edit_webhook_message",
    ]
    assert message.history[0].flags & 128  # loading
    assert message.history[1].content == "Rendering a red fox"
    assert message.content == "Done: a red fox!"
    times = [v.timestamp for v in message.history]
    assert times == sorted(times)
    [attachment] = message.attachments
    assert (attachment.filename, attachment.data, attachment.content_type) == (
        "render.png",
        PNG,
        "image/png",
    )
    assert message.custom_ids() == ["job:7:cancel"]
    async with aiohttp.ClientSession() as http, http.get(attachment.url) as got:
        assert await got.read() == PNG

    click = await double.click(message, "job:7:cancel")
    assert (await click.wait_for_response()).type == 7  # update the clicked message
    assert bot.cancelled == [7]
    assert message.content == "Job 7 cancelled" and message.components == []
    assert message.attachments == [attachment]


async def test_persistent_button_works_after_a_restart(double: DiscordDouble) -> None:
    async with double.running(SampleBot(double.guild.id)) as first:
        record = await double.invoke("render", {"prompt": "owl", "job": 99})
        await double.wait_until(lambda: "render" in first.finished)
    # A new process: the DynamicItem template, not a stored view, routes the click.
    async with double.running(SampleBot(double.guild.id)) as second:
        assert double.sync_count(double.guild) == 2
        click = await double.click(record.original_id or 0, "job:99:cancel")
        await click.wait_for_response()
        assert second.cancelled == [99]


async def test_autocomplete_and_attachment_option(double: DiscordDouble, bot: SampleBot) -> None:
    suggest = await double.autocomplete("restyle", "style", "pi")
    assert (await suggest.wait_for_response()).type == 8
    assert [(c["name"], c["value"]) for c in suggest.choices or []] == [("Pixel Art", "pixel art")]

    record = await double.invoke(
        "restyle",
        {"style": "pixel art"},
        attachments=[("cat.png", PNG, "image/png")],
        locale="fr",
    )
    assert (await record.wait_for_response()).type == 4
    assert bot.seen["restyle"] == {
        "filename": "cat.png",
        "data": PNG,
        "content_type": "image/png",
        "filesize_limit": 10 * MIB,
        "attach_files": True,
        "locale": "fr",
    }
    original = record.original
    assert original is not None and original.content == f"pixel art: {len(PNG)} bytes"
    assert original.attachments[0].data == PNG[::-1]
    assert [c.status for c in double.calls_to("attachment")] == [200]


async def test_select_menu_and_deferred_update(double: DiscordDouble, bot: SampleBot) -> None:
    record = await double.invoke("pick")
    await record.wait_for_response()
    menu = record.original
    assert menu is not None and menu.ephemeral
    with pytest.raises(ValueError, match="not among"):
        await double.click(menu, "pick-style", values=["sepia"])
    with pytest.raises(LookupError, match="ephemeral"):
        await double.click(menu, "pick-style", values=["cartoon"], user=double.owner)
    click = await double.click(menu, "pick-style", values=["cartoon", "pixel art"])
    assert (await click.wait_for_response()).type == 6
    await double.wait_until(lambda: "pick" in bot.finished)
    assert bot.seen["pick"] == ["cartoon", "pixel art"]
    assert menu.content == "Style: cartoon, pixel art"  # @original of a click: its message


async def test_subcommand_with_member_and_channel_options(
    double: DiscordDouble, bot: SampleBot
) -> None:
    record = await double.invoke(
        "preset", {"member": double.owner, "where": double.channel}, subcommand="show"
    )
    await record.wait_for_response()
    assert bot.seen["preset"] == {
        "member": double.owner.id,
        "member_type": "Member",
        "where": double.channel.id,
    }
    with pytest.raises(ValueError, match="needs a subcommand"):
        await double.invoke("preset", {"member": double.owner})


async def test_modal_opened_and_submitted(double: DiscordDouble, bot: SampleBot) -> None:
    record = await double.invoke("feedback")
    assert (await record.wait_for_response()).type == 9
    assert record.modal is not None and record.modal["title"] == "Feedback"
    [text_id] = [
        c["custom_id"] for c in walk_components(record.modal["components"]) if c["type"] == 4
    ]
    submitted = await double.submit_modal(record, {text_id: "lovely"})
    await submitted.wait_for_response()
    assert submitted.original is not None and submitted.original.content == "Thanks: lovely"


async def test_dm_global_command_and_thread_in_nsfw_channel(double: DiscordDouble) -> None:
    art = double.add_text_channel(double.guild, "art", nsfw=True)
    thread = double.add_thread(art, "renders")
    mod = double.add_user("mod")
    double.add_member(double.guild, mod, permissions=discord.Permissions(manage_guild=True).value)
    async with double.running(SampleBot(double.guild.id)) as bot:
        record = await double.invoke("where", channel=thread, user=mod)
        await record.wait_for_response()
        assert bot.seen["where"] == {
            "channel": "Thread",
            "nsfw": True,  # inherited from the parent
            "guild": "Test Guild",
            "manage_guild": True,
        }
        assert record.original is not None and record.original.ephemeral

        dm = double.dm_channel(double.user)
        pong = await double.invoke("ping", channel=dm)
        await pong.wait_for_response()
        assert "user" in pong.payload and "member" not in pong.payload
        assert pong.original is not None and pong.original.channel_id == dm.id

        admin = await double.invoke("admin", user=mod)
        await admin.wait_for_response()


async def test_the_test_side_cannot_do_what_users_cannot(
    double: DiscordDouble, bot: SampleBot
) -> None:
    with pytest.raises(LookupError, match="never synced"):
        await double.invoke("nope")
    with pytest.raises(ValueError, match="required"):
        await double.invoke("render")
    with pytest.raises(ValueError, match="cannot take"):
        await double.invoke("render", {"prompt": 3})
    with pytest.raises(ValueError, match="unknown option"):
        await double.invoke("render", {"prompt": "x", "seed": 1})
    with pytest.raises(PermissionError):
        await double.invoke("admin")  # default_member_permissions hides it from members
    with pytest.raises(LookupError, match="never synced"):
        await double.invoke("render", {"prompt": "x"}, channel=double.dm_channel(double.user))
    with pytest.raises(ValueError, match="no autocomplete"):
        await double.autocomplete("render", "prompt", "x")
    assert double.interactions == {}


async def test_json_answers_carry_exactly_application_json(double: DiscordDouble) -> None:
    headers = {"Authorization": f"Bot {double.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{double.url}/api/v10/users/@me", headers=headers) as got:
            assert got.headers["Content-Type"] == "application/json"
        async with http.get(f"{double.url}/api/v10/users/@me") as got:
            assert got.status == 401
    assert [v.rule for v in double.take_violations()] == [Rule.UNAUTHORIZED]


async def test_redirect_points_are_patched_and_restored() -> None:
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with DiscordDouble() as double:
        assert f"{double.url}/api/v10" == discord.http.Route.BASE
        assert double.gateway_url == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        assert double.url.startswith("http://127.0.0.1:")
    assert base == discord.http.Route.BASE
    assert gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
