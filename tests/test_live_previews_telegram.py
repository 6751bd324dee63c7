"""Live previews on Telegram, through PTB and the Bot API fake: drafts, Stop, sources, 4K files."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from PIL import Image

from bot.request import ChatKey
from tests.conftest import SIZED_RESULT_ACTIONS, photo
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.telegram import Call, TelegramFake
from tests.telegram_harness import button, running_bot, telegram_settings

THINKING = "gemini-3.1-flash-image"


def keyboard_labels(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def replied_to(call: Call) -> int | None:
    reply = call.params.get("reply_parameters") or {}
    return reply.get("message_id")


async def test_the_draft_appears_updates_and_gives_way_to_the_result(tmp_path: Path) -> None:
    release = asyncio.Event()
    async with TelegramFake() as tg, GeminiFake(gemini3=True) as gemini:
        gemini.script(
            Reply.thinking(
                draft_at=(0.0, 0.1),
                thoughts=("**Planning the scene**", "**Painting the sky**"),
                release=release,
            )
        )
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(tmp_path, gemini, tg, model=THINKING)
        async with running_bot(tg, settings) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="a sunset")
            draft = await tg.wait_for_call("sendPhoto", timeout=15)
            # The second draft comes 1.5 s after the first at the earliest (flood control).
            edit = await tg.wait_for_call("editMessageMedia", timeout=15)
            release.set()
            result = await bot.reply_to(sent)
            deleted = await tg.wait_for_call("deleteMessage", timeout=15)
    posted_draft = bot.posted(draft)
    # Both drafts come at once: the first shown may already carry the second's line.
    assert draft.params["caption"] in ("Draft: Planning the scene", "Draft: Painting the sky")
    assert edit.upload("media") != draft.upload("photo")
    assert keyboard_labels(draft.params) == ["Stop"]
    assert replied_to(draft) == sent["message_id"]
    with Image.open(io.BytesIO(draft.upload("photo"))) as shown:
        assert shown.format == "JPEG"
    assert edit.params["message_id"] == posted_draft["message_id"]
    assert keyboard_labels(edit.params) == ["Stop"]
    # The result is a new reply with its own actions; only then does the draft go.
    assert result is not draft and replied_to(result) == sent["message_id"]
    assert keyboard_labels(result.params) == SIZED_RESULT_ACTIONS
    assert result.upload("photo") == gemini.requests[0].response_images[-1]
    assert deleted.params["message_id"] == posted_draft["message_id"]
    order = [c.method for c in tg.calls if c.method in ("sendPhoto", "deleteMessage")]
    assert order == ["sendPhoto", "sendPhoto", "deleteMessage"]


async def test_stop_on_the_draft_stops_the_model_and_offers_retry(tmp_path: Path) -> None:
    async with TelegramFake() as tg, GeminiFake(gemini3=True) as gemini:
        gemini.script(Reply.thinking(draft_at=(0.0,), hold=True))
        alice = tg.user(1, "Alice")
        bob = tg.user(2, "Bob")
        group = tg.group(-100, "Friends")
        settings = telegram_settings(tmp_path, gemini, tg, model=THINKING)
        async with running_bot(tg, settings) as bot:
            sent = tg.send_user_message(group, alice, photo=photo(), caption="/edit a hat")
            draft = bot.posted(await tg.wait_for_call("sendPhoto", timeout=15))
            tg.press_button(group, bob, draft, button(draft, "Stop"))
            refusal = await tg.wait_for_call("answerCallbackQuery", timeout=15)
            tg.press_button(group, alice, draft, button(draft, "Stop"))
            stopped = await bot.reply_to(sent, "sendMessage", linked=True)
            await gemini.wait_for(lambda: gemini.requests[0].disconnected_after is not None)
            await tg.wait_for_call("deleteMessage", timeout=15)
            retry = button(bot.posted(stopped), "Retry")
            tg.press_button(group, alice, bot.posted(stopped), retry)
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 2, timeout=15)
    assert refusal.params["text"] == (
        "Only the person who asked, or an admin of this chat, can stop it."
    )
    assert stopped.params["text"] == "Stopped."
    assert len(gemini.requests) == 2  # Retry asked again; the stored turn was kept


async def test_sources_follow_the_result_as_links(tmp_path: Path) -> None:
    async with TelegramFake() as tg, GeminiFake(gemini3=True) as gemini:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(tmp_path, gemini, tg, model=THINKING)
        async with running_bot(tg, settings) as bot:
            await bot.engine.settings_service.change(
                ChatKey("telegram", str(chat.id)), "search", "on"
            )
            sent = tg.send_user_message(chat, alice, text="the Eiffel tower right now")
            result = await bot.reply_to(sent)
            sources = await tg.wait_for_call("sendMessage", timeout=15)
    assert replied_to(sources) == bot.posted(result)["message_id"]
    text = sources.params["text"]
    assert text.splitlines()[0] == "Sources:"
    links = [e["url"] for e in sources.params["entities"] if e["type"] == "text_link"]
    assert links == [uri for _, uri in gemini.grounding_sources[:5]]


async def test_a_4k_result_comes_as_a_preview_photo_and_the_lossless_file(
    tmp_path: Path,
) -> None:
    async with TelegramFake() as tg, GeminiFake(default_image_size=(4096, 2304)) as gemini:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="bigger")
            result = await bot.reply_to(sent)
            document = await tg.wait_for_call("sendDocument", timeout=15)
            await bot.linked(bot.posted(document))  # a reply to the file continues too
    png = gemini.requests[0].response_images[-1]
    with Image.open(io.BytesIO(result.upload("photo"))) as shown:
        assert shown.format == "JPEG" and max(shown.size) <= 2560
    assert document.upload("document") == png
    assert replied_to(document) == bot.posted(result)["message_id"]


async def test_flood_control_on_a_draft_never_reaches_the_user(tmp_path: Path) -> None:
    release = asyncio.Event()
    async with TelegramFake() as tg, GeminiFake(gemini3=True) as gemini:
        gemini.script(Reply.thinking(draft_at=(0.0, 0.1), release=release))
        tg.fail_next("editMessageMedia", 429, retry_after=30)
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(tmp_path, gemini, tg, model=THINKING)
        async with running_bot(tg, settings) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="a sunset")
            await tg.wait_for(
                lambda: [c for c in tg.calls_of("editMessageMedia") if c.status == 429],
                timeout=15,
            )
            release.set()
            result = await bot.reply_to(sent)
    assert result.ok
    said = [c.params.get("text", "") for c in tg.calls_of("sendMessage")]
    assert not [text for text in said if "retry" in text.lower() or "wrong" in text]


async def test_stop_while_queued_and_a_stream_error_after_a_draft(tmp_path: Path) -> None:
    release = asyncio.Event()
    async with TelegramFake() as tg, GeminiFake(gemini3=True) as gemini:
        gemini.script(
            Reply.thinking(draft_at=(0.0,), error=Reply.server_error(500), release=release)
        )
        alice, bob = tg.user(1, "Alice"), tg.user(2, "Bob")
        settings = telegram_settings(
            tmp_path, gemini, tg, model=THINKING, max_concurrent_requests=1, retry_attempts=1
        )
        async with running_bot(tg, settings) as bot:
            mine = tg.send_user_message(tg.private_chat(alice), alice, photo=photo(), caption="a")
            await tg.wait_for_call("sendPhoto", timeout=15)  # Alice's draft holds the slot
            theirs = tg.send_user_message(tg.private_chat(bob), bob, photo=photo(), caption="b")
            queued = bot.posted(await tg.wait_for_call("sendMessage", timeout=15))
            tg.press_button(tg.private_chat(bob), bob, queued, button(queued, "Stop"))
            stopped = await bot.reply_to(theirs, "sendMessage", linked=True)
            release.set()  # Alice's stream now fails after its draft
            failed = await bot.reply_to(mine, "sendMessage", linked=True)
            await tg.wait_for(lambda: len(tg.calls_of("deleteMessage")) == 2, timeout=15)
            tg.press_button(
                tg.private_chat(alice),
                alice,
                bot.posted(failed),
                button(bot.posted(failed), "Retry"),
            )
            retried = await bot.reply_to(mine)
    assert queued["text"] == "You are number 1 in the queue."
    assert keyboard_labels(tg.calls_of("sendMessage")[0].params) == ["Stop"]
    assert stopped.params["text"] == "Stopped."
    assert len(gemini.requests) == 2  # Bob's step never reached the model
    assert failed.params["text"].startswith("Gemini is unavailable")
    assert keyboard_labels(failed.params) == ["Retry"]
    deleted = {c.params["message_id"] for c in tg.calls_of("deleteMessage")}
    assert queued["message_id"] in deleted  # no stale status is left in either chat
    assert retried.ok


async def test_with_previews_off_no_draft_is_posted(tmp_path: Path) -> None:
    async with TelegramFake() as tg, GeminiFake(gemini3=True) as gemini:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(tmp_path, gemini, tg, model=THINKING)
        async with running_bot(tg, settings) as bot:
            key = ChatKey("telegram", str(chat.id))
            await bot.engine.settings_service.change(key, "previews", "off")
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="a sunset")
            result = await bot.reply_to(sent)
    posting = ("sendPhoto", "sendMessage", "editMessageMedia", "deleteMessage")
    assert [c.method for c in tg.calls if c.method in posting] == ["sendPhoto"]
    assert keyboard_labels(result.params) == SIZED_RESULT_ACTIONS
    assert gemini.requests[0].action == "generateContent"
