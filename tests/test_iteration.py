"""One-tap next steps: Zoom out and Upscale, through the engine and on both platforms."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from bot.app import open_engine
from bot.capabilities import capabilities_for
from bot.engine import Engine
from bot.iteration import CANVAS_COLOUR, pad_to_ratio, pad_to_zoom
from tests.conftest import (
    ALICE,
    CHAT,
    RESULT_ACTIONS,
    RecordingOutbox,
    make_settings,
    photo,
    request,
)
from tests.discord_harness import (
    attachment_bytes,
    bot_settings,
    button_ids,
    button_labels,
    ephemeral_answer,
    serving,
    until_linked,
)
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.telegram import FakeChat, FakeUser, TelegramFake
from tests.telegram_harness import RunningBot, button, running_bot, telegram_settings
from tests.test_actions import RecordingReply

Json = dict[str, Any]


def noisy(size: tuple[int, int]) -> bytes:
    """A PNG whose every pixel differs from its neighbours (a moved pixel would show)."""
    image = Image.effect_noise(size, 80).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


@asynccontextmanager
async def a_telegram_result(
    tmp_path: Path, tg: TelegramFake, gemini: GeminiFake
) -> AsyncIterator[tuple[RunningBot, FakeChat, FakeUser, Json, Json]]:
    """A running Telegram bot, and a result it posted in Alice's private chat."""
    alice = tg.user(1, "Alice")
    chat = tg.private_chat(alice)
    async with running_bot(tg, telegram_settings(tmp_path / "tg", gemini, tg)) as bot:
        sent = tg.send_user_message(chat, alice, photo=photo(), caption="a cat")
        result = bot.posted(await bot.reply_to(sent))
        yield bot, chat, alice, sent, result


async def upscaled(engine: Engine) -> RecordingReply:
    """Make a result, press its Upscale; the press's steps hold the upscaled result."""
    outbox = RecordingOutbox()
    await engine.handle(request("a cat", photo()), outbox)
    [upscale] = [b for b in outbox.cards[-1].buttons if b.label == "Upscale"]
    reply = RecordingReply()
    await engine.press(upscale.payload, CHAT, ALICE, reply)
    return reply


def test_zoom_out_pads_the_picture_unchanged_onto_a_larger_canvas() -> None:
    original = noisy((120, 80))
    padded = pixels(pad_to_zoom(original))
    assert padded.size == (180, 120)  # 1.5 x, the same aspect ratio
    centre = padded.crop((30, 20, 150, 100))
    assert centre.tobytes() == pixels(original).tobytes()  # pixel for pixel
    assert padded.getpixel((0, 0)) == padded.getpixel((179, 119)) == CANVAS_COLOUR


async def test_zoom_out_sends_the_padded_result_under_its_lineage(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake)
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            await engine.handle(request("a cat", photo()), outbox)
            card = outbox.cards[-1]
            [zoom] = [b for b in card.buttons if b.label == "Zoom out"]
            reply = RecordingReply()
            await engine.press(zoom.payload, CHAT, ALICE, reply)
            zoomed = reply.steps.success
            # A reply to the zoomed result continues from it: an ordinary turn.
            follow = RecordingOutbox()
            await engine.handle(request("more", reply_to=reply.steps.posted[-1]), follow)
    first, second, third = fake.requests
    roles = [c.role for c in second.contents]
    assert roles == ["user", "model", "user"]  # the original turn, the result, the zoom
    padded = second.contents[-1].parts[0].image
    assert padded is not None
    shown = pixels(padded)
    result = pixels(first.result_image or b"")
    assert shown.size == (round(result.width * 1.5), round(result.height * 1.5))
    left, top = (shown.width - result.width) // 2, (shown.height - result.height) // 2
    centre = shown.crop((left, top, left + result.width, top + result.height))
    assert centre.tobytes() == result.tobytes()
    assert "Zoom out" in (second.contents[-1].parts[-1].text or "")
    assert zoomed.images and follow.success
    assert (third.contents[-1].parts[-1].text or "").endswith("more")


async def test_upscale_asks_for_the_largest_size_and_only_when_there_is_one(
    tmp_path: Path,
) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake, model="gemini-3.1-flash-image")
        async with open_engine(settings) as engine:
            reply = await upscaled(engine)
            card = reply.steps.cards[-1]
    config = fake.requests[1].generation_config or {}
    image_config = config.get("imageConfig") or config.get("image_config")
    assert image_config in ({"imageSize": "4K"}, {"image_size": "4K"})
    assert "higher resolution" in (fake.requests[1].contents[-1].parts[-1].text or "")
    # Already at the largest size: no Upscale under the upscaled result.
    assert [b.label for b in card.buttons] == RESULT_ACTIONS


async def test_upscale_for_a_model_without_sizes_uses_the_configured_model(
    tmp_path: Path,
) -> None:
    async with GeminiFake() as fake:
        plain = make_settings(tmp_path / "plain", fake)
        async with open_engine(plain) as engine:
            outbox = RecordingOutbox()
            await engine.handle(request("a cat", photo()), outbox)
            assert "Upscale" not in [b.label for b in outbox.cards[-1].buttons]
        configured = dataclasses.replace(
            make_settings(tmp_path / "configured", fake),
            iteration=dataclasses.replace(
                plain.iteration, upscale_model="gemini-3-pro-image", upscale_size="2K"
            ),
        )
        async with open_engine(configured) as engine:
            reply = await upscaled(engine)
    assert fake.requests[-1].model == "gemini-3-pro-image"
    assert reply.steps.success


def test_reframe_pads_to_the_new_shape_around_the_unchanged_picture() -> None:
    original = noisy((120, 80))
    square = pixels(pad_to_ratio(original, "1:1"))
    assert square.size == (120, 120)
    assert square.crop((0, 20, 120, 100)).tobytes() == pixels(original).tobytes()
    tall = pixels(pad_to_ratio(original, "9:16"))
    assert tall.size == (120, 213)
    wide = pixels(pad_to_ratio(original, "21:9"))
    assert wide.size == (187, 80)


async def test_reframe_offers_the_models_ratios_then_asks_for_the_one_picked(
    tmp_path: Path,
) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake, model="gemini-3.1-flash-image")
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            await engine.handle(request("a cat", photo()), outbox)
            [reframe] = [b for b in outbox.cards[-1].buttons if b.label == "Reframe"]
            asked = RecordingReply()
            await engine.press(reframe.payload, CHAT, ALICE, asked)
            [(prompt, options)] = asked.choices
            [wide] = [o for o in options if o.label == "16:9"]
            picked = RecordingReply()
            await engine.press(wide.payload, CHAT, ALICE, picked)
    assert prompt == "Pick the new shape:"
    assert [o.label for o in options] == list(
        capabilities_for(settings.gemini.model).aspect_ratios
    )
    assert picked.steps.success
    sent = fake.requests[-1]
    config = sent.generation_config or {}
    image_config = config.get("imageConfig") or config.get("image_config") or {}
    assert "16:9" in image_config.values()
    padded = pixels(sent.contents[-1].parts[0].image or b"")
    assert abs(padded.width / padded.height - 16 / 9) < 0.02
    assert "Reframe to 16:9" in (sent.contents[-1].parts[-1].text or "")


async def test_zoom_out_and_reframe_on_telegram_and_discord(
    tmp_path: Path, dc: DiscordFake
) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        async with a_telegram_result(tmp_path, tg, gemini) as (bot, chat, alice, sent, result):
            tg.press_button(chat, alice, result, button(result, "Zoom out"))
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 2, timeout=15)
            tg.press_button(chat, alice, result, button(result, "Reframe"))
            offered = await tg.wait_for_call("editMessageReplyMarkup", timeout=15)
            offering = bot.posted(offered)
            tg.press_button(chat, alice, offering, button(offering, "4:3"))
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 3, timeout=15)
        telegram_zoom, telegram_reframe = gemini.requests[-2:]
        async with serving(bot_settings(tmp_path / "dc", gemini, dc)):
            inter = await dc.slash_command("imagine", {"prompt": "a lemon tree"})
            [posted] = await dc.wait_for_followup(inter)
            press = await dc.press_button(posted, button_ids(posted)[3])
            [zoomed] = await dc.wait_for_followup(press)
            discord_zoom = gemini.requests[-1]
            press = await dc.press_button(posted, button_ids(posted)[4])
            await ephemeral_answer(dc, press)
            menu = press.original
            assert menu is not None
            [select] = [c for row in menu["components"] for c in row["components"]]
            choice = await dc.press_button(
                menu, select["custom_id"], component_type=3, values=["bb2:rf:2-3x2"]
            )
            [reframed] = await dc.wait_for_followup(choice)
    for zoom in (telegram_zoom, discord_zoom):
        assert "Zoom out" in (zoom.contents[-1].parts[-1].text or "")
        assert zoom.contents[-1].parts[0].image is not None
    assert (
        tg.calls_of("sendPhoto")[1].params["reply_parameters"]["message_id"]
        == (sent["message_id"])
    )
    assert attachment_bytes(dc, zoomed) == [discord_zoom.result_image]
    labels = [b["text"] for row in offering["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[:5] == RESULT_ACTIONS[:5]
    assert "4:3" in labels and "16:9" in labels
    assert "4:3" in str(telegram_reframe.generation_config)
    assert [o["label"] for o in select["options"]][:3] == ["1:1", "2:3", "3:2"]
    assert "3:2" in str(gemini.requests[-1].generation_config)
    assert attachment_bytes(dc, reframed) == [gemini.requests[-1].result_image]


async def test_variations_answer_the_same_turn_in_parallel_and_charge_only_successes(
    tmp_path: Path,
) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake)
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            await engine.handle(request("a cat", photo()), outbox)
            [variations] = [b for b in outbox.cards[-1].buttons if b.label == "Variations"]
            fake.script(Reply.image(), Reply.finish("IMAGE_SAFETY"), Reply.image())
            reply = RecordingReply()
            await engine.press(variations.payload, CHAT, ALICE, reply)
            usage = await engine.quota_status(CHAT, ALICE)
    card = reply.steps.cards[-1]
    gathered = reply.steps.success
    assert len(fake.requests) == 4
    # Every variant answers the same user turn, with the same history.
    assert all(r.contents == fake.requests[1].contents for r in fake.requests[2:])
    assert fake.requests[1].contents == fake.requests[0].contents
    assert len(card.images) == 2 and len(gathered.variants) == 2
    assert card.text == "2 variations. Press Use and a number to go on from that one."
    [note] = card.notes
    assert note.startswith("Variation ") and "safety" in note
    assert [b.label for b in card.buttons] == ["Retry", "Variations", "Use 1", "Use 2"]
    assert usage.user_used == 3  # the first result and two variants; the refusal is free


async def test_variations_are_refused_whole_when_fewer_images_are_left(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake)
        settings = dataclasses.replace(
            settings, limits=dataclasses.replace(settings.limits, daily_images_per_user=3)
        )
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            await engine.handle(request("a cat", photo()), outbox)
            [variations] = [b for b in outbox.cards[-1].buttons if b.label == "Variations"]
            reply = RecordingReply()
            await engine.press(variations.payload, CHAT, ALICE, reply)
    assert reply.steps.failure.message == ("That needs 3 images; there are 2 left for today.")
    assert len(fake.requests) == 1


async def test_variations_on_telegram_are_an_album_each_photo_its_own_lineage(
    tmp_path: Path, dc: DiscordFake
) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        async with a_telegram_result(tmp_path, tg, gemini) as (bot, chat, alice, sent, result):
            tg.press_button(chat, alice, result, button(result, "Variations"))
            album = await tg.wait_for_call("sendMediaGroup", timeout=15)
            actions = await bot.reply_to(bot.posted(album), "sendMessage", linked=True)
            second = album.response[1]
            await bot.linked(second)
            reply = tg.send_user_message(chat, alice, text="now in blue", reply_to=second)
            await bot.reply_to(reply)
        variants = {r.result_image for r in gemini.requests[1:4]}
        async with serving(bot_settings(tmp_path / "dc", gemini, dc)) as engine:
            inter = await dc.slash_command("imagine", {"prompt": "a lemon tree"})
            [posted] = await dc.wait_for_followup(inter)
            press = await dc.press_button(posted, button_ids(posted)[2])
            [together] = await dc.wait_for_followup(press)
            # One Discord message shows them all: Use 2 posts the second as a result of its
            # own, and a reply to that continues from exactly it.
            assert button_labels(together)[-3:] == ["Use 1", "Use 2", "Use 3"]
            use = await dc.press_button(together, button_ids(together)[-2])
            [picked] = await dc.wait_for_followup(use)
            await until_linked(engine, dc.channel_id, picked)
            await dc.user_message(content="now in green", reply_to=picked)
            await gemini.wait_for_requests(10)
    assert album.params["reply_parameters"]["message_id"] == sent["message_id"]
    assert [
        b["text"] for row in actions.params["reply_markup"]["inline_keyboard"] for b in row
    ] == ["Retry", "Variations", "Use 1", "Use 2", "Use 3"]
    # The reply to the second photo continued from exactly that variant.
    shown = album.media_bytes()
    assert set(shown) == variants and len(shown) == 3
    continued = gemini.requests[4]
    assert continued.contents[-2].role == "model"
    assert continued.contents[-2].parts[-1].image == shown[1]
    together_images = attachment_bytes(dc, together)
    assert len(together_images) == 3
    assert attachment_bytes(dc, picked) == [together_images[1]]
    assert button_labels(picked) == RESULT_ACTIONS
    assert gemini.requests[9].contents[-2].parts[-1].image == together_images[1]


async def test_info_tells_how_a_result_was_made_and_usage_adds_its_cost(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(
            tmp_path / "data", fake, model="gemini-3.1-flash-image", previews=False
        )
        async with open_engine(settings) as engine:
            await engine.settings_service.change(CHAT, "aspect_ratio", "16:9")
            outbox = RecordingOutbox()
            await engine.handle(request("a cat in a hat", photo()), outbox)
            follow = RecordingOutbox()
            await engine.handle(request("make it gold", reply_to=outbox.posted[-1]), follow)
            [info] = [b for b in follow.cards[-1].buttons if b.label == "Info"]
            reply = RecordingReply()
            await engine.press(info.payload, CHAT, ALICE, reply)
            usage = await engine.usage_text(CHAT, ALICE)
    [text] = reply.notices
    lines = text.splitlines()
    usage_metadata = fake.requests[1].response_json["usageMetadata"]
    prompt = usage_metadata["promptTokenCount"]
    cost = prompt * 0.5 / 1e6 + 0.067  # Nano Banana 2: input tokens, one 1K image
    assert lines[0] == "Model: gemini-3.1-flash-image"
    assert lines[1] == "Size: default · Aspect ratio: 16:9"
    assert lines[2].startswith("Took ") and lines[2].endswith(" s")
    assert lines[3] == f"Tokens: {prompt} in, {usage_metadata['candidatesTokenCount']} out"
    assert lines[4] == f"Estimated cost: ${cost:.3f}"
    assert lines[5] == "Edit 2 of its lineage"
    assert lines[6] == "Instruction: make it gold"
    assert "Estimated cost today: $0.13 yours, $0.13 this chat's." in usage


def test_estimated_cost_is_input_tokens_plus_images_at_their_size() -> None:
    pro = capabilities_for("gemini-3-pro-image")
    assert pro.estimated_cost(1_000_000, 0, None) == 2.0
    assert pro.estimated_cost(0, 2, "4K") == 0.48
    assert pro.estimated_cost(0, 1, None) == 0.134  # the default size, 1K
    assert capabilities_for("gemini-unknown").estimated_cost(5000, 1, None) == 0.0


async def test_daily_cost_budgets_refuse_what_would_go_over(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(
            tmp_path / "data", fake, model="gemini-3.1-flash-image", previews=False
        )
        limits = dataclasses.replace(
            settings.limits, daily_cost_usd_per_user=0.10, daily_cost_usd_per_chat=0.20
        )
        settings = dataclasses.replace(settings, limits=limits)
        bob = dataclasses.replace(ALICE, user_id="bob")
        carol = dataclasses.replace(ALICE, user_id="carol")
        async with open_engine(settings) as engine:
            first, second, third, fourth = (RecordingOutbox() for _ in range(4))
            await engine.handle(request("a cat", photo()), first)
            await engine.handle(request("a dog", photo()), second)  # 2 x $0.067 > $0.10
            await engine.handle(request("a bird", photo(), author=bob), third)
            await engine.handle(request("a fish", photo(), author=carol), fourth)  # chat > $0.20
    assert first.success and third.success
    assert second.failure.message.startswith("That would go over your budget of $0.10 for today.")
    assert fourth.failure.message.startswith(
        "That would go over this chat's budget of $0.20 for today."
    )
    assert len(fake.requests) == 2  # refusals never reach the model


async def test_the_new_actions_work_after_a_restart(tmp_path: Path, dc: DiscordFake) -> None:
    async with GeminiFake() as gemini:
        settings = bot_settings(tmp_path / "dc", gemini, dc)
        async with serving(settings):
            inter = await dc.slash_command("imagine", {"prompt": "a lemon tree"})
            [posted] = await dc.wait_for_followup(inter)
        async with serving(settings):  # a new process: engine, client and views rebuilt
            variations = await dc.press_button(posted, "bb2:v:2")
            [together] = await dc.wait_for_followup(variations)
            zoom = await dc.press_button(posted, "bb2:z:2")
            [zoomed] = await dc.wait_for_followup(zoom)
            zoom_request = gemini.requests[-1]
            info = await dc.press_button(posted, "bb2:i:2")
            details = await ephemeral_answer(dc, info)
            reframe = await dc.press_button(posted, "bb2:rf:2")
            await ephemeral_answer(dc, reframe)
            assert reframe.original is not None
            [select] = [c for row in reframe.original["components"] for c in row["components"]]
            choice = await dc.press_button(
                reframe.original, select["custom_id"], component_type=3, values=["bb2:rf:2-16x9"]
            )
            [reframed] = await dc.wait_for_followup(choice)
    assert len(attachment_bytes(dc, together)) == 3
    assert attachment_bytes(dc, zoomed) == [zoom_request.result_image]
    assert details["content"].startswith("Model: gemini-2.5-flash-image")
    assert "16:9" in str(gemini.requests[-1].generation_config)
    assert attachment_bytes(dc, reframed) == [gemini.requests[-1].result_image]


async def test_info_command_answers_for_the_replied_result_on_telegram(tmp_path: Path) -> None:
    async with (
        TelegramFake() as tg,
        GeminiFake() as gemini,
        a_telegram_result(tmp_path, tg, gemini) as (bot, chat, alice, _, result),
    ):
        asked = tg.send_user_message(chat, alice, text="/info", reply_to=result)
        about = await bot.reply_to(asked, "sendMessage", linked=False)
        latest = tg.send_user_message(chat, alice, text="/info")
        about_latest = await bot.reply_to(latest, "sendMessage", linked=False)
        group = tg.group(-5, "Friends")
        lost = tg.send_user_message(group, alice, text="/info")
        nothing = await bot.reply_to(lost, "sendMessage", linked=False)
    assert about.params["text"].startswith("Model: gemini-2.5-flash-image")
    assert about.params["text"].endswith("Instruction: a cat")
    assert about_latest.params["text"] == about.params["text"]
    assert nothing.params["text"].startswith("I found no result of mine there.")
    assert "info" in [c["command"] for c in tg.calls_of("setMyCommands")[0].params["commands"]]


async def test_info_command_on_discord_takes_a_link_or_the_latest(
    tmp_path: Path, dc: DiscordFake
) -> None:
    async with GeminiFake() as gemini, serving(bot_settings(tmp_path / "dc", gemini, dc)):
        first = await dc.slash_command("imagine", {"prompt": "a lemon tree"})
        [older] = await dc.wait_for_followup(first)
        second = await dc.slash_command("imagine", {"prompt": "a pear tree"})
        await dc.wait_for_followup(second)
        link = f"https://discord.com/channels/{first.guild_id}/{first.channel_id}/{older['id']}"
        by_link = await ephemeral_answer(dc, await dc.slash_command("info", {"message": link}))
        latest = await ephemeral_answer(dc, await dc.slash_command("info"))
        unknown = await ephemeral_answer(dc, await dc.slash_command("info", {"message": "12345"}))
    assert by_link["content"].endswith("Instruction: a lemon tree")
    assert latest["content"].endswith("Instruction: a pear tree")
    assert unknown["content"].startswith("I found no result of mine there.")
    assert "info" in [c["name"] for c in dc.global_commands]


def big_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (30, 90, 160)).save(buf, "PNG")
    return buf.getvalue()


async def test_every_action_works_on_telegram_after_a_restart(tmp_path: Path) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(
            tmp_path / "tg", gemini, tg, model="gemini-3.1-flash-image", previews=False
        )
        async with running_bot(tg, settings) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="a cat")
            result = bot.posted(await bot.reply_to(sent))
        async with running_bot(tg, settings) as bot:  # a new process: everything rebuilt
            photos = len(tg.calls_of("sendPhoto"))
            tg.press_button(chat, alice, result, button(result, "Zoom out"))
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == photos + 1, timeout=15)
            zoom = gemini.requests[-1]
            gemini.script(Reply.image(big_png(2400)))  # what a 4K answer looks like to Telegram
            tg.press_button(chat, alice, result, button(result, "Upscale"))
            upscaled_file = await tg.wait_for_call("sendDocument", timeout=15)
            upscale = gemini.requests[-1]
            tg.press_button(chat, alice, result, button(result, "Reframe"))
            offered = bot.posted(await tg.wait_for_call("editMessageReplyMarkup", timeout=15))
            tg.press_button(chat, alice, offered, button(offered, "16:9"))
            await gemini.wait_for_requests(4)
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == photos + 3, timeout=15)
            reframe = gemini.requests[-1]
            tg.press_button(chat, alice, result, button(result, "Variations"))
            album = await tg.wait_for_call("sendMediaGroup", timeout=15)
            tg.press_button(chat, alice, result, button(result, "Info"))
            info = await tg.wait_for(
                lambda: next(
                    (
                        c
                        for c in tg.calls_of("sendMessage")
                        if str(c.params.get("text", "")).startswith("Model:")
                    ),
                    None,
                ),
                timeout=15,
            )
    assert "Zoom out" in (zoom.contents[-1].parts[-1].text or "")
    assert "4K" in str(upscale.generation_config)
    # The upscale arrives as a photo to look at and the lossless PNG as a file under it.
    assert upscaled_file.upload("document") == big_png(2400)
    assert "16:9" in str(reframe.generation_config)
    assert len(album.media_bytes()) == 3
    assert info.params["text"].endswith("Instruction: a cat")
