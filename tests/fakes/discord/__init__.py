"""Loopback fake of Discord's REST API, attachment CDN and gateway, for the real discord.py.

The fake speaks the wire formats discord.py 2.7.1 expects, so tests drive a real
``discord.Client`` and ``app_commands.CommandTree`` against it::

    async with DiscordFake() as dc:
        with point_discord_at(dc):
            client = discord.Client(intents=intents, guild_ready_timeout=0.1)
            task = asyncio.create_task(client.start("fake-token"))
            ...
            inter = await dc.slash_command("edit", {"image": dc.add_attachment(png, "a.png"),
                                                    "prompt": "make it blue"})
            [reply] = await dc.wait_for_followup(inter)

The default world has one guild (``dc.guild_id``) with a text channel (``dc.channel_id``),
the bot as a member, a user ``dc.user`` who is a member, and a DM channel between the bot
and that user (``dc.dm_channel_id``).

Modelled Discord behaviour (beyond echoing):
- message content intent: without MESSAGE_CONTENT, guild messages arrive with empty
  content/attachments/embeds/components unless they mention the bot (DMs and the bot's own
  messages are exempt); GUILD_MESSAGES / DIRECT_MESSAGES gate MESSAGE_* events;
- privileged intents not allowed (``allowed_privileged_intents``) close the gateway with 4014;
- interaction tokens: callback once (40060 after that), follow-ups only after the callback
  (10015 before), ``expire_interaction`` and an optional callback deadline (10062);
- after a "thinking" defer (type 5) the first follow-up fills the loading original message;
- 2000-character content limit (50035), upload size limit by boost tier (40005), empty
  message (50006), unknown channel/message (10003/10008), reply to unknown message (50035);
- a thread started from a message has the message's id, and THREAD_CREATE is dispatched;
- the bot's own messages are echoed as MESSAGE_CREATE/UPDATE/DELETE like Discord does.

Every REST call is recorded in ``dc.calls``; ``dc.wait_for(lambda: ...)`` and the
``wait_for_followup``/``wait_for_callback``/``wait_for_messages`` wrappers are the bounded waits of
``tests.fakes.recording``. ``dc.upload_limit`` overrides the upload limit everywhere.

Layout: ``protocol`` (wire facts), ``records``, ``world`` (state), ``gateway``, ``bot_messages``,
``users`` and ``interactions`` (what users do), ``rest`` and ``responses`` (what the bot calls),
``server`` (routes, middleware, failures). ``import discord`` in this package is absolute and
resolves to the real library.
"""

from tests.fakes.discord.protocol import (
    CALLBACK_AUTOCOMPLETE_RESULT,
    CALLBACK_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_UPDATE_MESSAGE,
    CALLBACK_MODAL,
    CALLBACK_UPDATE_MESSAGE,
    FLAG_EPHEMERAL,
    FLAG_HAS_SNAPSHOT,
    FLAG_LOADING,
    INTENT_DM_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    MIB,
    PRIVILEGED_INTENTS,
    ApiError,
    Json,
    now_iso,
    upload_limit_for_tier,
)
from tests.fakes.discord.records import Call, FakeGuild, FakeInteraction, Upload
from tests.fakes.discord.server import DiscordFake, point_discord_at

__all__ = [
    "CALLBACK_AUTOCOMPLETE_RESULT",
    "CALLBACK_CHANNEL_MESSAGE",
    "CALLBACK_DEFERRED_CHANNEL_MESSAGE",
    "CALLBACK_DEFERRED_UPDATE_MESSAGE",
    "CALLBACK_MODAL",
    "CALLBACK_UPDATE_MESSAGE",
    "FLAG_EPHEMERAL",
    "FLAG_HAS_SNAPSHOT",
    "FLAG_LOADING",
    "INTENT_DM_MESSAGES",
    "INTENT_GUILDS",
    "INTENT_GUILD_MESSAGES",
    "INTENT_MESSAGE_CONTENT",
    "MIB",
    "PRIVILEGED_INTENTS",
    "ApiError",
    "Call",
    "DiscordFake",
    "FakeGuild",
    "FakeInteraction",
    "Json",
    "Upload",
    "now_iso",
    "point_discord_at",
    "upload_limit_for_tier",
]
