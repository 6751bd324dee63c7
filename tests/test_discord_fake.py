"""The Discord fake drives the real discord.py client: gateway, slash commands, context menus,
modals, persistent buttons, replies, threads, rate limits and close codes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image

with warnings.catch_warnings():
    # discord.py imports the stdlib ``audioop`` (deprecated since 3.11); pytest runs -W error.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands

from tests.fakes.discord import (
    FLAG_LOADING,
    INTENT_MESSAGE_CONTENT,
    MIB,
    DiscordFake,
    point_discord_at,
)

WAIT = 10.0


def png(color: str, size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


class RetryView(discord.ui.View):
    """A persistent view: no timeout, explicit custom_id."""

    def __init__(self, presses: list[discord.Interaction]) -> None:
        super().__init__(timeout=None)
        self.presses = presses

    @discord.ui.button(label="Retry", custom_id="bananabot:retry")
    async def retry(
        self, inter: discord.Interaction, button: discord.ui.Button[RetryView]
    ) -> None:
        self.presses.append(inter)
        await inter.response.defer(thinking=True)
        await inter.followup.send("retrying")


class Bot(discord.Client):
    def __init__(self, *, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before
        # READY (default 2 s); the fake sends all guilds at once.
        super().__init__(intents=intents, guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)
        self.inbox: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.ready_event = asyncio.Event()
        self.presses: list[discord.Interaction] = []

    async def setup_hook(self) -> None:
        self.add_view(RetryView(self.presses))

    async def on_ready(self) -> None:
        self.ready_event.set()

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            self.inbox.put_nowait(message)

    async def next_message(self) -> discord.Message:
        return await asyncio.wait_for(self.inbox.get(), WAIT)


@pytest.fixture
async def dc() -> AsyncIterator[DiscordFake]:
    async with DiscordFake() as fake:
        with point_discord_at(fake):
            yield fake


@contextlib.asynccontextmanager
async def running(bot: Bot) -> AsyncIterator[Bot]:
    """Start ``bot`` against the fake, wait for READY (or the start error), close at the end."""
    task = asyncio.create_task(bot.start("fake-token"))
    ready = asyncio.create_task(bot.ready_event.wait())
    try:
        done, _ = await asyncio.wait(
            {task, ready}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()
            raise AssertionError("client stopped before READY")
        if ready not in done:
            raise TimeoutError("client not ready")
        yield bot
    finally:
        ready.cancel()
        await bot.close()
        if not task.done() or not task.cancelled():
            with contextlib.suppress(Exception):
                await task


def future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


async def test_login_ready_guild_cache_and_command_sync(dc: DiscordFake) -> None:
    bot = Bot()

    @bot.tree.command(name="imagine", description="Make an image")
    async def imagine(inter: discord.Interaction, prompt: str) -> None:
        raise AssertionError("not called")

    async with running(bot):
        assert bot.user is not None
        assert bot.user.id == dc.application_id
        assert bot.user.bot
        assert bot.application_id == dc.application_id
        guild = bot.get_guild(dc.guild_id)
        assert guild is not None
        assert guild.me is not None
        assert guild.member_count == 3
        assert guild.filesize_limit == 10 * MIB
        assert isinstance(guild.get_channel(dc.channel_id), discord.TextChannel)
        assert guild.me.guild_permissions.attach_files

        bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)

    assert [c.path for c in dc.calls[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    assert dc.identified_intents == bot.intents.value
    assert dc.identified_intents & INTENT_MESSAGE_CONTENT
    assert dc.gateway_queries[0]["v"] == "10"
    assert [c.name for c in synced] == ["imagine"]
    [registered] = dc.guild_commands[dc.guild_id]
    assert registered["id"] == str(synced[0].id)
    assert registered["options"][0]["name"] == "prompt"


async def test_slash_command_defers_reads_attachment_and_follows_up_with_file(
    dc: DiscordFake,
) -> None:
    bot = Bot()
    seen: dict[str, Any] = {}
    edited = png("blue", (16, 9))

    @bot.tree.command(name="edit", description="Edit an image")
    async def edit(inter: discord.Interaction, image: discord.Attachment, prompt: str) -> None:
        response = await inter.response.defer(thinking=True)
        seen["thinking"] = response is not None and response.is_thinking()
        seen["received"] = await image.read()
        seen["content_type"] = image.content_type
        seen["limit"] = inter.filesize_limit
        await inter.followup.send(
            content=f"done: {prompt}", file=discord.File(io.BytesIO(edited), "edited.png")
        )

    original = png("red")
    async with running(bot):
        inter = await dc.slash_command(
            "edit", {"image": dc.add_attachment(original, "photo.png"), "prompt": "make it blue"}
        )
        [reply] = await dc.wait_for_followup(inter)

    assert inter.callback_types == [5]
    [callback_call] = dc.calls_to("POST", r"^/interactions/\d+/.+/callback$")
    assert callback_call.query == {"with_response": "1"}
    assert seen == {
        "thinking": True,
        "received": original,
        "content_type": "image/png",
        "limit": 10 * MIB,
    }
    assert reply["content"] == "done: make it blue"
    [attachment] = reply["attachments"]
    assert attachment["filename"] == "edited.png"
    assert (attachment["width"], attachment["height"]) == (16, 9)
    assert dc.attachment_bytes(attachment) == edited
    # The first follow-up after a thinking defer fills the loading original message.
    assert inter.original is not None
    assert reply["id"] == inter.original["id"]
    assert not reply["flags"] & FLAG_LOADING
    [followup_call] = dc.calls_to("POST", r"^/webhooks/\d+/")
    assert followup_call.query["wait"] == "1"
    assert followup_call.parts == {"files[0]": edited}
    assert "Authorization" not in followup_call.headers


async def test_reply_to_bot_message_reaches_on_message_with_resolved_reference(
    dc: DiscordFake,
) -> None:
    bot = Bot()
    async with running(bot):
        channel = bot.get_channel(dc.channel_id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send(
            "here you go", file=discord.File(io.BytesIO(png("red")), "result.png")
        )
        bot_message = dc.message(sent.id)
        assert bot_message is not None
        user_message = await dc.user_message(content="now make it green", reply_to=bot_message)
        message = await bot.next_message()

    assert message.id == int(user_message["id"])
    assert message.content == "now make it green"
    assert message.type is discord.MessageType.reply
    assert message.reference is not None
    assert message.reference.message_id == sent.id
    resolved = message.reference.resolved
    assert isinstance(resolved, discord.Message)
    assert resolved.author == bot.user
    assert resolved.attachments[0].filename == "result.png"
    assert bot.user in message.mentions  # reply ping on (Discord's default)
    assert isinstance(message.author, discord.Member)


async def test_without_message_content_intent_only_mentions_replies_and_dms_have_content(
    dc: DiscordFake,
) -> None:
    bot = Bot(message_content=False)
    async with running(bot):
        channel = bot.get_channel(dc.channel_id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("result")
        bot_message = dc.message(sent.id)
        assert bot_message is not None

        await dc.user_message(content="plain chatter")
        plain = await bot.next_message()
        await dc.user_message(content="no ping", reply_to=bot_message, reply_ping=False)
        no_ping = await bot.next_message()
        await dc.user_message(content="with ping", reply_to=bot_message)
        ping = await bot.next_message()
        await dc.user_message(content="hey", mentions_bot=True)
        mention = await bot.next_message()
        await dc.user_message(dc.dm_channel_id, content="in a DM")
        dm = await bot.next_message()

    assert plain.content == ""
    assert no_ping.content == ""
    assert no_ping.reference is not None
    assert isinstance(no_ping.reference.resolved, discord.Message)
    assert no_ping.reference.resolved.content == "result"  # the bot's own message
    assert ping.content == "with ping"
    assert mention.content == f"<@{dc.application_id}> hey"
    assert dm.content == "in a DM"
    assert isinstance(dm.channel, discord.DMChannel)


async def test_message_context_menu_opens_modal_and_submit_reaches_on_submit(
    dc: DiscordFake,
) -> None:
    bot = Bot()
    seen: dict[str, Any] = {}

    class PromptModal(discord.ui.Modal, title="Edit image"):
        prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label="Prompt", custom_id="prompt"
        )

        def __init__(self, target: discord.Message) -> None:
            super().__init__(custom_id="edit-modal")
            self.target = target

        async def on_submit(self, inter: discord.Interaction) -> None:
            await inter.response.send_message(
                f"editing {self.target.attachments[0].filename}: {self.prompt.value}"
            )

    @bot.tree.context_menu(name="Edit image")
    async def edit_image(inter: discord.Interaction, message: discord.Message) -> None:
        seen["target"] = message
        await inter.response.send_modal(PromptModal(message))

    async with running(bot):
        target = await dc.user_message(
            content="look", attachments=[dc.add_attachment(png("red"), "cat.png")]
        )
        opened = await dc.message_context_menu("Edit image", target)
        await dc.wait_for_callback(opened)
        submitted = await dc.submit_modal("edit-modal", {"prompt": "add a hat"})
        [callback] = await dc.wait_for_callback(submitted)

    assert seen["target"].id == int(target["id"])
    assert opened.payload["data"]["type"] == 3
    assert opened.callback_types == [9]
    assert opened.modal is not None
    assert opened.modal["title"] == "Edit image"
    assert submitted.payload["data"]["components"][0]["type"] == 1
    assert callback["type"] == 4
    assert callback["data"]["content"] == "editing cat.png: add a hat"
    assert submitted.original is not None
    assert dc.sent_messages(dc.channel_id)[-1]["content"] == "editing cat.png: add a hat"


async def test_label_modal_submit_mirrors_type_18_layout(dc: DiscordFake) -> None:
    bot = Bot()
    submitted_prompt = future()

    class ImagineModal(discord.ui.Modal, title="Imagine"):
        prompt: discord.ui.Label[ImagineModal] = discord.ui.Label(
            text="Prompt", component=discord.ui.TextInput(custom_id="prompt")
        )

        async def on_submit(self, inter: discord.Interaction) -> None:
            text_input = self.prompt.component
            assert isinstance(text_input, discord.ui.TextInput)
            submitted_prompt.set_result(text_input.value)
            await inter.response.defer(thinking=True, ephemeral=True)
            await inter.edit_original_response(content="queued")

    @bot.tree.command(name="imagine", description="Make an image")
    async def imagine(inter: discord.Interaction) -> None:
        await inter.response.send_modal(ImagineModal(custom_id="imagine-modal"))

    async with running(bot):
        opened = await dc.slash_command("imagine", locale="de")
        await dc.wait_for_callback(opened)
        submitted = await dc.submit_modal("imagine-modal", {"prompt": "a banana"})
        assert await asyncio.wait_for(submitted_prompt, WAIT) == "a banana"
        await dc.wait_for(
            lambda: submitted.original is not None and submitted.original["content"] == "queued"
        )

    [label] = submitted.payload["data"]["components"]
    assert label["type"] == 18
    assert label["component"] == {
        "type": 4,
        "id": label["component"]["id"],
        "custom_id": "prompt",
        "value": "a banana",
    }
    assert opened.payload["locale"] == "de"
    assert dc.sent_messages(include_ephemeral=False) == []


async def test_persistent_button_survives_a_client_restart(dc: DiscordFake) -> None:
    first = Bot()
    async with running(first):
        channel = first.get_channel(dc.channel_id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("result", view=RetryView(first.presses))
    message = dc.message(sent.id)
    assert message is not None
    assert message["components"][0]["components"][0]["custom_id"] == "bananabot:retry"

    second = Bot()
    async with running(second):
        assert dc.connected == 1
        press = await dc.press_button(message, "bananabot:retry")
        [followup] = await dc.wait_for_followup(press)

    assert first.presses == []
    assert [p.id for p in second.presses] == [press.id]
    assert press.callback_types == [5]
    assert followup["content"] == "retrying"
    assert press.payload["message"]["id"] == str(sent.id)


@pytest.mark.parametrize("refuse", ["close_on_identify", "privileged_intent_not_enabled"])
async def test_close_code_4014_surfaces_as_privileged_intents_required(
    dc: DiscordFake, refuse: str
) -> None:
    if refuse == "close_on_identify":
        dc.close_on_identify = 4014
    else:
        dc.allowed_privileged_intents = 0
    bot = Bot(message_content=True)
    task = asyncio.create_task(bot.start("fake-token"))
    try:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(task, WAIT)
    finally:
        await bot.close()
    assert dc.identified_intents == bot.intents.value


async def test_scripted_429_is_retried_and_403_raises_forbidden(dc: DiscordFake) -> None:
    bot = Bot()
    async with running(bot):
        channel = bot.get_channel(dc.channel_id)
        assert isinstance(channel, discord.TextChannel)
        dc.fail_next("POST", r"^/channels/\d+/messages$", status=429, retry_after=0.05)
        sent = await channel.send("hello")
        dc.fail_next("POST", r"^/channels/\d+/messages$", status=403)
        with pytest.raises(discord.Forbidden) as forbidden:
            await channel.send("again")

    posts = dc.calls_to("POST", r"^/channels/\d+/messages$")
    assert [c.status for c in posts] == [429, 200, 403]
    assert [m["content"] for m in dc.sent_messages(dc.channel_id)] == ["hello"]
    assert sent.content == "hello"
    assert forbidden.value.code == 50013


async def test_expired_interaction_answers_unknown_interaction_and_unknown_webhook(
    dc: DiscordFake,
) -> None:
    bot = Bot()
    gate = asyncio.Event()
    codes = future()

    @bot.tree.command(name="slow", description="Too slow")
    async def slow(inter: discord.Interaction) -> None:
        await gate.wait()
        found: list[int] = []
        try:
            await inter.response.defer()
        except discord.NotFound as exc:
            found.append(exc.code)
        try:
            await inter.followup.send("late")
        except discord.NotFound as exc:
            found.append(exc.code)
        codes.set_result(found)

    async with running(bot):
        inter = await dc.slash_command("slow")
        dc.expire_interaction(inter)
        gate.set()
        assert await asyncio.wait_for(codes, WAIT) == [10062, 10015]
    assert inter.callbacks == []


async def test_thread_from_message_and_messages_in_it(dc: DiscordFake) -> None:
    bot = Bot()
    async with running(bot):
        await dc.user_message(content="edit this please")
        message = await bot.next_message()
        thread = await message.create_thread(name="Edit session", auto_archive_duration=60)
        await thread.send("working on it")

    assert thread.id == message.id
    assert thread.parent_id == dc.channel_id
    assert thread.type is discord.ChannelType.public_thread
    [posted] = dc.sent_messages(thread.id)
    assert posted["content"] == "working on it"
    assert posted["guild_id"] == str(dc.guild_id)


class OriginalView(discord.ui.View):
    """A non-persistent view: discord.py binds it to the response message id it learns from
    the ``with_response`` callback body."""

    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="Original", custom_id="bananabot:original")
    async def original(
        self, inter: discord.Interaction, button: discord.ui.Button[OriginalView]
    ) -> None:
        await inter.response.edit_message(content="back to the original", attachments=[])


async def test_interaction_message_with_file_view_edits_and_extra_followups(
    dc: DiscordFake,
) -> None:
    bot = Bot()
    done = future()

    @bot.tree.command(name="show", description="Show a preview")
    async def show(inter: discord.Interaction) -> None:
        await inter.response.send_message(
            "preview", file=discord.File(io.BytesIO(png("red")), "p.png"), view=OriginalView()
        )
        original = await inter.original_response()
        await inter.edit_original_response(content="preview (edited)")
        extra = await inter.followup.send("only you can see this", ephemeral=True, wait=True)
        second = await inter.followup.send("second", wait=True)
        await second.delete()
        done.set_result((original.id, extra.id, extra.flags.ephemeral))

    async with running(bot):
        shown = await dc.slash_command("show")
        original_id, extra_id, extra_ephemeral = await asyncio.wait_for(done, WAIT)
        preview = dc.message(original_id)
        assert preview is not None
        press = await dc.press_button(preview, "bananabot:original")
        await dc.wait_for_callback(press)

    assert shown.callback_types == [4]
    assert shown.callbacks[0]["files"] == {"p.png": png("red")}
    assert shown.original is not None
    assert shown.original["id"] == str(original_id)
    assert shown.original["type"] == 20  # CHAT_INPUT_COMMAND
    assert shown.original["interaction_metadata"]["name"] == "show"
    assert shown.followups[0]["id"] == str(extra_id)
    assert extra_ephemeral
    assert dc.message(shown.followups[1]["id"]) is None  # deleted
    assert press.callback_types == [7]
    assert preview["content"] == "back to the original"
    assert preview["attachments"] == []
    assert [m["id"] for m in dc.sent_messages(dc.channel_id)] == [str(original_id)]


async def test_channel_rest_round_trip(dc: DiscordFake) -> None:
    bot = Bot()
    async with running(bot):
        channel = bot.get_channel(dc.channel_id)
        assert isinstance(channel, discord.TextChannel)
        await dc.user_message(content="hi")
        message = await bot.next_message()
        await channel.typing()
        reply = await message.reply("on it", file=discord.File(io.BytesIO(png("red")), "r.png"))
        fetched = await channel.fetch_message(reply.id)
        edited = await reply.edit(content="done", attachments=[])
        await reply.add_reaction("\N{WHITE HEAVY CHECK MARK}")
        thread = await channel.create_thread(
            name="session", type=discord.ChannelType.public_thread
        )
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        await reply.delete()
        with pytest.raises(discord.NotFound) as gone:
            await channel.fetch_message(reply.id)
        with pytest.raises(discord.NotFound) as unknown_channel:
            await bot.get_partial_messageable(123).send("x")

    assert reply.type is discord.MessageType.reply
    assert reply.reference is not None
    assert reply.reference.message_id == message.id
    assert fetched.attachments[0].filename == "r.png"
    assert edited.content == "done"
    assert edited.attachments == []
    assert edited.edited_at is not None
    assert thread.type is discord.ChannelType.public_thread
    assert thread.parent_id == dc.channel_id
    assert too_long.value.code == 50035
    assert gone.value.code == 10008
    assert unknown_channel.value.code == 10003
    assert dc.calls_to("POST", r"/typing$")[0].status == 204
    assert dc.calls_to("PUT", r"/reactions/")[0].status == 204
