"""The Telegram adapter: PTB application, lifecycle, and one handler per kind of update."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from adapters.telegram import catalog
from adapters.telegram.albums import AlbumCollector
from adapters.telegram.config import TelegramSettings
from adapters.telegram.outbox import Place, TelegramOutbox, keyboard, place_of
from adapters.telegram.parsing import (
    COMMAND_NAMES,
    Action,
    Parsed,
    TelegramImage,
    images_of,
    parse_message,
)
from adapters.telegram.presses import TelegramPress, place_for_button
from adapters.telegram.sending import ChatActions, answer_query, call, is_chat_admin
from adapters.telegram.settings_menu import SETTINGS_PREFIX, SettingsMenu
from adapters.telegram.status import FloodPause
from adapters.telegram.updates import TolerantBot
from adapters.telegram.webhook import WebhookReceiver, set_webhook_once
from bot import messages
from bot.cards import Card
from bot.engine_port import EnginePort
from bot.errors import ConfigError, InputRejected
from bot.references import parse_command
from bot.request import Author, ChatKey, EditRequest, ImageSource

log = logging.getLogger(__name__)

TOKEN_REFUSED = "Telegram rejected the bot token; check telegram.token or TELEGRAM_BOT_TOKEN"

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses larger files
CONNECTION_POOL = 64
POOL_TIMEOUT_S = 30.0
UPLOADS_IN_FLIGHT = 16  # photo uploads are the heaviest requests: bound them like downloads
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def chat_key(message: Message) -> ChatKey:
    """The core's key for the chat (and forum topic) of `message`."""
    thread = str(message.message_thread_id) if message.is_topic_message else None
    return ChatKey("telegram", str(message.chat.id), thread)


def author_of(user: User) -> Author:
    """The core's view of a Telegram user."""
    return Author(str(user.id), user.full_name, user.language_code)


class TelegramAdapter:
    """Serves one Telegram bot over the engine."""

    def __init__(
        self,
        engine: EnginePort,
        settings: TelegramSettings,
        *,
        poll_timeout_s: float = 10.0,
        album_quiet_s: float | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._poll_timeout_s = poll_timeout_s
        bot = TolerantBot(
            settings.token,
            base_url=settings.api_base_url,
            base_file_url=settings.file_base_url,
            # Downloads and uploads are bounded below, so a smaller pool suffices, and
            # httpcore re-scans every pooled connection for every queued request (measured:
            # a third of a 200-chat burst's CPU with PTB's default of 256). Waiting for a
            # free connection is normal under load, so it may take a while.
            request=HTTPXRequest(
                connection_pool_size=CONNECTION_POOL, pool_timeout=POOL_TIMEOUT_S
            ),
            get_updates_request=HTTPXRequest(connection_pool_size=1),  # one long poll at a time
        )
        builder = (
            ApplicationBuilder()
            .bot(bot)
            # Model calls take seconds; sequential updates would stall every other chat.
            .concurrent_updates(True)
        )
        if settings.mode == "webhook":
            builder = builder.updater(None)  # WebhookReceiver fills the update queue instead
        self._app: Application = builder.build()  # type: ignore[type-arg]
        self._bot = bot
        self._app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        self._app.add_handler(CallbackQueryHandler(self._on_callback))
        self._app.add_error_handler(self._on_error)
        album_options = {"quiet_s": album_quiet_s} if album_quiet_s is not None else {}
        self._albums = AlbumCollector(
            engine.coordination, self._app.bot, self._on_album, **album_options
        )
        self._settings_menu = SettingsMenu(engine.settings_service)
        self.ready = asyncio.Event()  # set once updates are being received
        self._actions = ChatActions(self._app.bot)
        self._uploads = asyncio.Semaphore(UPLOADS_IN_FLIGHT)
        self._flood = FloodPause()
        self._told_conflict = False  # the 409 explanation is logged once per conflict

    @property
    def application(self) -> Application:  # type: ignore[type-arg]
        return self._app

    @property
    def connected(self) -> bool:
        """Receiving updates: the webhook server is up, or polling runs and its last
        getUpdates was answered (after a failure, that is when the next long poll returns)."""
        if not self.ready.is_set():
            return False
        if self._settings.mode == "webhook":
            return True  # `ready` is set only while the receiver listens
        updater = self._app.updater
        return updater is not None and updater.running and not self._bot.polling_failed

    # lifecycle --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set; raise `ConfigError` when Telegram rejects the token."""
        try:
            await self._serve(stop)
        except InvalidToken as exc:
            # A refusal for good: the supervisor in bot.app stops instead of retrying.
            raise ConfigError("telegram.token", TOKEN_REFUSED) from exc
        finally:
            # PTB skips the bot's shutdown when initialize() failed (a bad token, Telegram out
            # of reach): close its HTTP clients, or each restart leaks their connections.
            # After a clean run the bot is shut down already and this does nothing.
            await self._app.bot.shutdown()

    async def _serve(self, stop: asyncio.Event) -> None:
        async with self._app:
            me = self._app.bot
            log.info("telegram: logged in as @%s", me.username)
            if me.can_read_all_group_messages:
                log.info("telegram: privacy mode is off, the bot sees every group message")
            else:
                log.info(
                    "telegram: privacy mode is on: in groups the bot sees only /commands, "
                    "@%s mentions and replies to its messages (enough for bananabot; albums "
                    "need the caption on the first item). /setprivacy in @BotFather or admin "
                    "rights let it see everything",
                    me.username,
                )
            await self._register_commands()
            await self._app.start()
            try:
                async with self._receiving():
                    await self._announce_interrupted()
                    self.ready.set()
                    try:
                        await stop.wait()
                    finally:
                        self.ready.clear()  # before the receiver stops: see `connected`
            finally:
                await self._albums.aclose()
                await self._actions.aclose()
                await self._app.stop()

    def _receiving(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Receive updates while the block runs, as the config says."""
        return self._webhook() if self._settings.mode == "webhook" else self._polling()

    @contextlib.asynccontextmanager
    async def _polling(self) -> AsyncIterator[None]:
        updater = self._app.updater
        assert updater is not None
        await updater.start_polling(
            timeout=int(self._poll_timeout_s),
            allowed_updates=ALLOWED_UPDATES,
            error_callback=self._polling_failed,
        )
        log.info("telegram: polling")
        try:
            yield
        finally:
            await updater.stop()

    @contextlib.asynccontextmanager
    async def _webhook(self) -> AsyncIterator[None]:
        settings = self._settings
        secret = settings.webhook_secret or None
        path = urlparse(settings.webhook_url).path
        receiver = WebhookReceiver(self._app.bot, self._app.update_queue, path, secret)
        await receiver.start(settings.webhook_listen, settings.webhook_port)
        try:
            if not await set_webhook_once(
                self._app.bot,
                self._engine.coordination,
                settings.webhook_url,
                secret,
                ALLOWED_UPDATES,
            ):
                log.info("telegram: the webhook was set by another instance (or an earlier run)")
            log.info("telegram: webhook at %s", settings.webhook_url)
            yield
        finally:
            await receiver.aclose()

    def _polling_failed(self, error: TelegramError) -> None:
        """PTB retries every polling error; say what a 409 means instead of a traceback."""
        if isinstance(error, Conflict):
            if not self._told_conflict:
                self._told_conflict = True
                log.error(
                    "telegram: 409 Conflict: another process is receiving updates for this "
                    "bot (%s). Polling serves one instance only; this one keeps retrying. To "
                    'run several instances, use [telegram] mode = "webhook" behind one URL '
                    "(README: Running several instances)",
                    error.message,
                )
            return
        self._told_conflict = False
        log.warning("telegram: polling failed, retrying: %s", error)

    async def _register_commands(self) -> None:
        for language, code in ((messages.EN, None), (messages.ZH, "zh")):
            commands = [
                BotCommand(name, catalog.text(f"cmd_{name}", language)) for name in COMMAND_NAMES
            ]
            try:
                await self._app.bot.set_my_commands(commands, language_code=code)
            except TelegramError as exc:
                log.warning("telegram: setMyCommands failed: %s", exc)

    # incoming messages ------------------------------------------------------------------------

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.from_user is None:
            return
        if message.media_group_id is not None:
            self._albums.add(message)  # parsed once the whole album is here
            return
        bot = self._app.bot
        parsed = parse_message(message, bot.id, bot.username)
        await self._act(message, parsed, ())

    async def _on_album(self, items: list[Message]) -> None:
        bot = self._app.bot
        parsed_items = [(m, parse_message(m, bot.id, bot.username)) for m in items]
        # The caption (with the command, mention or reply) may sit on any item.
        lead = next(
            ((m, p) for m, p in parsed_items if p.action is not Action.IGNORE and p.text),
            next(((m, p) for m, p in parsed_items if p.action is not Action.IGNORE), None),
        )
        if lead is None:
            return
        message, parsed = lead
        images = tuple(image for m in items for image in images_of(m))
        merged = Parsed(
            parsed.action,
            parsed.text,
            images,
            parsed.reply_id,
            parsed.reply_images,
            parsed.reply_is_bot,
            continue_latest=False,
        )
        others = tuple(str(m.message_id) for m in items if m is not message)
        await self._act(message, merged, others)

    async def _act(self, message: Message, parsed: Parsed, album_ids: Sequence[str]) -> None:
        assert message.from_user is not None
        chat = chat_key(message)
        author = author_of(message.from_user)
        action = parsed.action
        if action is Action.IGNORE:
            return
        locale = await self._engine.locale(chat, author)
        if action in (Action.START, Action.HELP):
            await self._say(message, catalog.text("help", locale, username=self._app.bot.username))
        elif action is Action.NEW:
            await self._engine.new_session(chat)
            await self._say(message, messages.text("new_session", locale))
        elif action is Action.USAGE:
            await self._say(message, await self._engine.usage_text(chat, author))
        elif action is Action.INFO:
            reply_to = str(parsed.reply_id) if parsed.reply_id is not None else None
            await self._say(message, await self._engine.info_text(chat, author, reply_to))
        elif action is Action.HISTORY:
            reply_to = str(parsed.reply_id) if parsed.reply_id is not None else None
            private = message.chat.type == ChatType.PRIVATE
            await self._post_drawn(
                message, locale, self._engine.history(chat, author, reply_to, latest=private)
            )
        elif action is Action.REF:
            await self._reference(message, parsed, chat, author, locale)
        elif action is Action.FORGET:
            card = await self._engine.forget_card(chat, author)
            await self._say(message, card.text, keyboard(card.buttons))
        elif action is Action.SETTINGS:
            if await self._may_change_settings(message.chat.type, chat, author):
                await self._settings_menu.show(message, chat, locale)
            else:
                await self._say(message, catalog.text("settings_admins_only", locale))
        elif action is Action.NOT_AN_IMAGE:
            await self._say(message, messages.text("image_not_an_image", locale))
        elif action is Action.NO_STILL:
            await self._say(message, catalog.text("gif_without_still", locale))
        else:
            await self._edit(message, parsed, chat, author, locale, album_ids)

    async def _edit(
        self,
        message: Message,
        parsed: Parsed,
        chat: ChatKey,
        author: Author,
        locale: str | None,
        album_ids: Sequence[str],
    ) -> None:
        editing = parsed.action is Action.EDIT
        replying = editing and parsed.reply_id is not None
        request = EditRequest(
            chat=chat,
            author=author,
            message_id=str(message.message_id),
            text=parsed.text,
            images=tuple(self._source(image) for image in parsed.images),
            reply_to=str(parsed.reply_id) if replying else None,
            reply_images=tuple(self._source(i) for i in parsed.reply_images) if replying else (),
            continue_latest=parsed.continue_latest,
            requires_image=editing and not parsed.continue_latest,
            linked_message_ids=tuple(album_ids),
        )
        place = place_of(message)
        async with self._actions.showing(place.chat_id, place.thread_id):
            await self._engine.handle(request, self._outbox(place, locale))

    async def _post_drawn(
        self, message: Message, locale: str | None, drawing: Awaitable[Card]
    ) -> None:
        """Reply with a card whose picture is being drawn, "sending photo…" meanwhile."""
        place = place_of(message)
        async with self._actions.showing(place.chat_id, place.thread_id):
            await self._outbox(place, locale).deliver(await drawing)

    async def _reference(
        self, message: Message, parsed: Parsed, chat: ChatKey, author: Author, locale: str | None
    ) -> None:
        """/ref, /ref save NAME (a photo's caption, an album's, a reply to a picture),
        /ref save NAME: a style, /ref delete NAME."""
        command = parse_command(parsed.text)
        private = message.chat.type == ChatType.PRIVATE

        async def chat_admin() -> bool:
            return await is_chat_admin(self._app.bot, chat, author)

        if command.verb == "list":
            sheet = self._engine.reference_sheet(chat, author, private=private)
            await self._post_drawn(message, locale, sheet)
        elif command.verb == "save":
            reply_to = str(parsed.reply_id) if parsed.reply_id is not None else None
            text = await self._engine.save_reference(
                chat,
                author,
                command.name,
                command.prompt,
                tuple(self._source(image) for image in parsed.images),
                reply_to,
                tuple(self._source(image) for image in parsed.reply_images),
                private=private,
                chat_admin=chat_admin,
            )
            await self._say(message, text)
        elif command.verb == "delete":
            text = await self._engine.delete_reference(
                chat, author, command.name, private=private, chat_admin=chat_admin
            )
            await self._say(message, text)
        else:
            await self._say(message, catalog.text("ref_usage", locale))

    def _outbox(self, place: Place, locale: str | None) -> TelegramOutbox:
        return TelegramOutbox(self._app.bot, place, locale, self._uploads, self._flood)

    def _source(self, image: TelegramImage) -> ImageSource:
        bot = self._app.bot

        async def fetch() -> bytes:
            if image.file_size is not None and image.file_size > DOWNLOAD_LIMIT:
                raise InputRejected(
                    "file_too_large",
                    size_mb=image.file_size / 1024 / 1024,
                    limit_mb=DOWNLOAD_LIMIT / 1024 / 1024,
                )
            file = await call(lambda: bot.get_file(image.file_id), what="getFile")
            data = bytes(await call(file.download_as_bytearray, what="download"))
            expected = file.file_size or image.file_size
            if expected is not None and len(data) != expected:
                raise InputRejected("download_failed")  # cut short: never trust a partial file
            return data

        # Telegram's own photos are valid JPEGs it encoded: the full decode check is skipped.
        trusted = image.encoded_by_telegram
        return ImageSource(
            fetch,
            image.file_size,
            image.mime_type,
            image.file_id,
            trusted,
            still_of_animation=image.still_of_animation,
        )

    async def _say(
        self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        place = place_of(message)
        await call(
            lambda: self._app.bot.send_message(
                place.chat_id,
                text,
                reply_markup=markup,
                message_thread_id=place.thread_id,
                reply_parameters=ReplyParameters(
                    message_id=message.message_id, allow_sending_without_reply=True
                ),
            ),
            what="sendMessage",
        )

    async def _may_change_settings(self, chat_type: str, chat: ChatKey, author: Author) -> bool:
        """The core's rule, with Telegram's own member status as "chat admin"."""

        async def group_admin() -> bool:
            return await is_chat_admin(self._app.bot, chat, author)

        return await self._engine.settings_service.may_change(
            chat, author, private=chat_type == ChatType.PRIVATE, chat_admin=group_admin
        )

    # buttons ------------------------------------------------------------------------------------

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None or query.message is None:
            return
        message = query.message
        author = author_of(query.from_user)
        if query.data.startswith(SETTINGS_PREFIX):
            chat = ChatKey("telegram", str(message.chat.id))
            locale = await self._engine.locale(chat, author)
            allowed = await self._may_change_settings(message.chat.type, chat, author)
            if not allowed:
                await answer_query(query, catalog.text("settings_admins_only", locale), alert=True)
                return
            await self._settings_menu.press(query, chat, locale)
            return
        place = place_for_button(query)
        thread = str(place.thread_id) if place.thread_id else None
        chat = ChatKey("telegram", str(message.chat.id), thread)
        locale = await self._engine.locale(chat, author)
        press = TelegramPress(
            self._app.bot,
            query,
            self._actions,
            lambda place: self._outbox(place, locale),
            lambda: is_chat_admin(self._app.bot, chat, author),
        )
        await self._engine.press(query.data, chat, author, press)

    async def _announce_interrupted(self) -> None:
        def outbox_for(
            chat: ChatKey, message_id: str | None, locale: str | None
        ) -> TelegramOutbox:
            reply_to = int(message_id) if message_id and message_id.isdigit() else None
            return self._outbox(Place(int(chat.chat_id), None, reply_to), locale)

        await self._engine.announce_interrupted("telegram", outbox_for)

    # errors -------------------------------------------------------------------------------------

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: update failed", exc_info=context.error)
        message = update.effective_message if isinstance(update, Update) else None
        if message is None or message.from_user is None:
            return
        locale = message.from_user.language_code
        try:
            await self._say(message, messages.text("internal_error", locale))
        except TelegramError:
            log.warning("telegram: could not report the error to the chat")
