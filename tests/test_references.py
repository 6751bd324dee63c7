"""References and styles (#NAME): parsing, the rules, and conversations on Telegram."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot import messages, storyboard
from bot.app import open_engine
from bot.config import ReferenceSettings, StyleSettings
from bot.references import incidental, mentions, parse_command
from bot.styles import BUILT_IN_STYLES, valid_name
from tests.conftest import ALICE, CHAT, make_settings, photo
from tests.discord_harness import bot_settings, ephemeral_answer, png, serving, until_linked
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake, RecordedRequest
from tests.fakes.telegram import FakeChat, FakeUser, TelegramFake
from tests.telegram_harness import RunningBot, button, running_bot, telegram_settings

Json = dict[str, Any]
HERO = photo((200, 40, 40))
SIDE = photo((40, 200, 40))
BACK = photo((40, 40, 200))


def request_parts(request: RecordedRequest) -> list[str | bytes]:
    """The new user turn's parts: texts and image bytes, in order."""
    return [p.image if p.image is not None else (p.text or "") for p in request.contents[-1].parts]


async def said(bot: RunningBot, message: Json) -> str:
    """The bot's text answer to `message`."""
    call = await bot.reply_to(message, "sendMessage", linked=False)
    return str(call.params["text"])


# -- names, mentions, commands ----------------------------------------------------------------


def test_names_are_letters_of_any_script_digits_underscore_and_dash() -> None:
    assert all(valid_name(n) for n in ("Hero", "hero_2", "my-cat", "英雄", "café", "नमस्ते", "x"))
    assert not any(valid_name(n) for n in ("", "my hero", "a.b", "x" * 33, "emoji🙂", "#hero"))


def test_mentions_are_words_that_start_with_a_hash() -> None:
    text = "a #Hero and #hero, <#123> &#38; ##x a#b #café. 把#英雄 放在 #" + "x" * 33
    assert mentions(text) == ["Hero", "café", "英雄"]
    assert incidental("ff8800") and incidental("3") and incidental("1st")
    assert not incidental("hero") and not incidental("cafe1")


def test_the_ref_command_reads_list_save_and_delete() -> None:
    assert parse_command("").verb == parse_command("list").verb == "list"
    assert parse_command("save Hero") == parse_command("save Hero ")
    assert parse_command("save Hero: a red cape").prompt == "a red cape"
    assert parse_command("save 英雄：红色披风").name == "英雄"
    assert parse_command("delete #hero").name == "hero"
    assert parse_command("save my hero").name == "my hero"  # refused later, with the reason
    assert parse_command("frobnicate").verb == parse_command("save").verb == "usage"


# -- Telegram conversations ------------------------------------------------------------------


def group_of(tg: TelegramFake) -> tuple[FakeChat, FakeUser, FakeUser]:
    alice, bob = tg.user(1, "Alice"), tg.user(2, "Bob")
    return tg.group(-100, "Friends"), alice, bob


async def test_a_chat_reference_from_a_captioned_photo_serves_every_member(
    tmp_path: Path,
) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        group, alice, bob = group_of(tg)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            saved = tg.send_user_message(group, alice, photo=HERO, caption="/ref save Hero")
            confirmation = await said(bot, saved)
            asked = tg.send_user_message(group, bob, text="/imagine #hero surfing a wave")
            await bot.reply_to(asked)
            colour = tg.send_user_message(group, bob, text="/imagine a #ff8800 wall")
            await bot.reply_to(colour)
    assert confirmation.startswith("Saved #Hero for this chat: 1 picture.")
    first, second = gemini.requests
    assert request_parts(first) == ["Reference #Hero:", HERO, "#hero surfing a wave"]
    assert request_parts(second) == ["a #ff8800 wall"]  # a colour, not a reference


async def test_a_personal_album_reference_follows_its_owner_and_no_one_else(
    tmp_path: Path,
) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        group, alice, bob = group_of(tg)
        private = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            album = tg.send_album(private, alice, [HERO, SIDE], caption="/ref save me")
            confirmation = await said(bot, album[0])
            mine = tg.send_user_message(group, alice, text="/imagine #me as an astronaut")
            await bot.reply_to(mine)
            theirs = tg.send_user_message(group, bob, text="/imagine #me as a pirate")
            refusal = await said(bot, theirs)
    assert confirmation.startswith("Saved #me for you: 2 pictures.")
    [request] = gemini.requests  # Bob's step never reached the model
    assert request_parts(request) == ["Reference #me:", HERO, SIDE, "#me as an astronaut"]
    assert refusal.startswith("I don't know #me, so I sent nothing.")


async def test_a_result_saved_by_reply_and_who_may_replace_or_delete_it(tmp_path: Path) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        group, alice, bob = group_of(tg)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(group, alice, photo=HERO, caption="/edit make a robot")
            result = bot.posted(await bot.reply_to(sent))
            save = tg.send_user_message(group, alice, text="/ref save Robot", reply_to=result)
            saved = await said(bot, save)
            steal = tg.send_user_message(group, bob, photo=SIDE, caption="/ref save robot")
            stolen = await said(bot, steal)
            delete = tg.send_user_message(group, bob, text="/ref delete robot")
            refused = await said(bot, delete)
            tg.set_chat_member(group, bob, "administrator")
            again = tg.send_user_message(group, bob, text="/ref delete robot")
            deleted = await said(bot, again)
            gone = tg.send_user_message(group, alice, text="/imagine #robot")
            unknown = await said(bot, gone)
            use = tg.send_user_message(group, alice, text="/imagine #Robt dancing")
            await said(bot, use)
    assert saved.startswith("Saved #Robot for this chat: 1 picture.")
    assert (
        stolen
        == refused
        == (
            "#Robot was saved by someone else: only they, a chat admin or a bot admin can "
            "change it."
        )
    )
    assert deleted == "Deleted #Robot."
    assert unknown.startswith("I don't know #robot")
    assert len(gemini.requests) == 1  # only the edit: the refusals sent nothing


async def test_the_reference_holds_the_results_bytes_and_suggests_close_names(
    tmp_path: Path,
) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        alice = tg.user(1, "Alice")
        private = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(private, alice, photo=HERO, caption="a robot")
            result = bot.posted(await bot.reply_to(sent))
            save = tg.send_user_message(private, alice, text="/ref save Robot", reply_to=result)
            await said(bot, save)
            typo = tg.send_user_message(private, alice, text="/imagine #Robt dancing")
            suggestion = await said(bot, typo)
            use = tg.send_user_message(private, alice, text="/imagine #robot dancing")
            await bot.reply_to(use)
    made = gemini.requests[0].result_image
    assert suggestion == "I don't know #Robt, so I sent nothing. Did you mean #Robot?"
    assert request_parts(gemini.requests[1]) == ["Reference #Robot:", made, "#robot dancing"]


async def test_references_over_the_models_image_limit_are_refused_saying_how_many_fit(
    tmp_path: Path,
) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        alice = tg.user(1, "Alice")
        private = tg.private_chat(alice)
        five = [photo((n * 40, 90, 90)) for n in range(5)]
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            album = tg.send_album(private, alice, five, caption="/ref save crowd")
            kept = await said(bot, album[0])
            edit = tg.send_user_message(private, alice, photo=HERO, caption="add #crowd")
            refused = await said(bot, edit)
    # gemini-2.5-flash-image takes 3 pictures: 1 of Alice's and 4 from the reference.
    assert kept.splitlines() == [
        "Saved #crowd for you: 4 pictures. Use #crowd in any chat, groups included.",
        "A reference keeps 4 pictures: I kept the first 4.",
    ]
    assert refused == (
        "The model takes 3 pictures at a time, and this edit needs 5 (4 of them from "
        "references). Only 3 fit: leave out a reference or a picture."
    )
    assert not gemini.requests


async def test_styles_from_config_override_built_ins_and_the_list_is_one_picture(
    tmp_path: Path,
) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        alice = tg.user(1, "Alice")
        private = tg.private_chat(alice)
        settings = dataclasses.replace(
            telegram_settings(tmp_path, gemini, tg),
            styles=(
                StyleSettings("Figurine", "a tiny resin figure on my shelf"),
                StyleSettings("noir", "black and white, hard shadows"),
            ),
        )
        async with running_bot(tg, settings) as bot:
            for name, picture in (("hero", HERO), ("sidekick", SIDE)):
                saving = tg.send_user_message(
                    private, alice, photo=picture, caption=f"/ref save {name}"
                )
                await said(bot, saving)
            style = tg.send_user_message(private, alice, text="/ref save dreamy: soft pastel haze")
            await said(bot, style)
            taken = tg.send_user_message(private, alice, text="/ref save sticker: mine")
            reserved = await said(bot, taken)
            use = tg.send_user_message(private, alice, text="/imagine #figurine of a cat")
            await bot.reply_to(use)
            listing = tg.send_user_message(private, alice, text="/ref")
            sheet = await bot.reply_to(listing, "sendPhoto", linked=False)
    assert reserved.startswith("#sticker is taken by the bot")
    assert request_parts(gemini.requests[0]) == [
        "Reference #Figurine:",
        "a tiny resin figure on my shelf",
        "#figurine of a cat",
    ]
    with Image.open(io.BytesIO(sheet.upload("photo"))) as picture:
        assert picture.size == storyboard.grid(2).size  # #hero and #sidekick
    lines = str(sheet.params["caption"]).splitlines()
    assert lines[0] == "References you can use here (put #name in an instruction):"
    assert "#dreamy: soft pastel haze" in lines
    assert "#Figurine: a tiny resin figure on my shelf" in lines
    assert "#noir: black and white, hard shadows" in lines
    assert sum(line.startswith("#") for line in lines) == len(BUILT_IN_STYLES) + 2


async def test_bad_saves_get_a_reason_and_save_nothing(tmp_path: Path) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        alice = tg.user(1, "Alice")
        private = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            answers = []
            for text in ("/ref save hero", "/ref save my hero", "/ref save list", "/ref frob"):
                message = tg.send_user_message(private, alice, text=text)
                answers.append(await said(bot, message))
            listing = tg.send_user_message(private, alice, text="/ref")
            empty = await said(bot, listing)
            pdf = tg.send_user_message(
                private,
                alice,
                document=b"%PDF-1.4 not a picture",
                document_mime="application/pdf",
                document_name="notes.pdf",
                caption="/ref save doc",
            )
            not_a_picture = await said(bot, pdf)
    assert not_a_picture == messages.text("image_not_an_image", "en")
    assert answers[0] == "Nothing to save: a reference needs a picture or a style description."
    assert answers[1].startswith("\u201cmy hero\u201d can't name a reference")
    assert answers[2].startswith("#list is taken by the bot")
    assert answers[3].startswith("/ref lists the references you can use here.")
    assert empty.splitlines()[1] == "No saved references here yet."
    assert not gemini.requests


async def test_references_survive_a_restart_and_forget_deletes_them(tmp_path: Path) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        alice = tg.user(1, "Alice")
        private = tg.private_chat(alice)
        settings = telegram_settings(tmp_path, gemini, tg)
        async with running_bot(tg, settings) as bot:
            saving = tg.send_user_message(private, alice, photo=HERO, caption="/ref save hero")
            await said(bot, saving)
        async with running_bot(tg, settings) as bot:
            use = tg.send_user_message(private, alice, text="/imagine #hero at dawn")
            await bot.reply_to(use)
            forget = tg.send_user_message(private, alice, text="/forget")
            confirm = bot.posted(await bot.reply_to(forget, "sendMessage", linked=False))
            tg.press_button(private, alice, confirm, button(confirm, "Delete my data"))
            await tg.wait_for_call("editMessageText", timeout=15)
            after = tg.send_user_message(private, alice, text="/imagine #hero at dusk")
            unknown = await said(bot, after)
    assert request_parts(gemini.requests[0])[:2] == ["Reference #hero:", HERO]
    assert unknown.startswith("I don't know #hero")
    assert len(gemini.requests) == 1


@pytest.mark.parametrize("name", ["figurine", "sticker"])
def test_built_in_styles_are_described(name: str) -> None:
    assert len(BUILT_IN_STYLES[name]) > 40


# -- Discord conversations -------------------------------------------------------------------


async def test_references_on_discord_by_command_option_menu_and_list(
    tmp_path: Path, dc: DiscordFake
) -> None:
    hero = png((200, 40, 40))
    bob = dc.add_user("bob")
    async with GeminiFake() as gemini, serving(bot_settings(tmp_path, gemini, dc)) as engine:
        attachment = dc.add_attachment(hero, "hero.png")
        saving = await dc.slash_command(
            "ref", {"name": "#Hero", "image": attachment}, subcommand="save"
        )
        saved = await ephemeral_answer(dc, saving)
        by_mention = await dc.slash_command("imagine", {"prompt": "#hero on a beach"})
        [result] = await dc.wait_for_followup(by_mention)
        by_option = await dc.slash_command("imagine", {"prompt": "in snow", "reference": "Hero"})
        await dc.wait_for_followup(by_option)
        typing = await dc.autocomplete("imagine", {"prompt": "x", "reference": "he"}, "reference")
        await dc.wait_for_callback(typing)
        await until_linked(engine, dc.channel_id, result)
        opened = await dc.message_context_menu("Save as reference", result)
        await dc.wait_for_callback(opened)
        assert opened.modal is not None
        name_field = opened.modal["components"][0]["components"][0]["custom_id"]
        submitted = await dc.submit_modal(opened.modal["custom_id"], {name_field: "beach"})
        from_menu = await ephemeral_answer(dc, submitted)
        listing = await dc.slash_command("ref", {}, subcommand="list")
        [sheet] = await dc.wait_for_followup(listing)
        stranger = await dc.slash_command("ref", {"name": "hero"}, subcommand="delete", user=bob)
        refused = await ephemeral_answer(dc, stranger)
        owner = await dc.slash_command("ref", {"name": "#hero"}, subcommand="delete")
        deleted = await ephemeral_answer(dc, owner)
    assert saved["content"].startswith("Saved #Hero for this chat: 1 picture.")
    first, second = gemini.requests
    assert request_parts(first) == ["Reference #Hero:", hero, "#hero on a beach"]
    assert request_parts(second) == ["Reference #Hero:", hero, "in snow"]
    choices = typing.callbacks[0]["data"]["choices"]
    assert [c["value"] for c in choices] == ["Hero"]  # "he" is also in no style's name
    assert from_menu["content"].startswith("Saved #beach for this chat: 1 picture.")
    assert int(sheet["flags"]) & 64  # the list is for the caller only
    [board] = sheet["attachments"]
    with Image.open(io.BytesIO(dc.attachment_bytes(board))) as picture:
        assert picture.size == storyboard.grid(2).size  # #beach and #Hero
    assert "#figurine: " in sheet["content"]
    assert refused["content"].startswith("#Hero was saved by someone else")
    assert deleted["content"] == "Deleted #Hero."
    assert {"ref", "Save as reference"} <= {c["name"] for c in dc.global_commands}


async def test_discord_references_survive_a_restart(tmp_path: Path, dc: DiscordFake) -> None:
    async with GeminiFake() as gemini:
        settings = bot_settings(tmp_path, gemini, dc)
        async with serving(settings):
            saving = await dc.slash_command(
                "ref", {"name": "wash", "prompt": "in loose watercolour"}, subcommand="save"
            )
            saved = await ephemeral_answer(dc, saving)
        async with serving(settings):  # a new process
            used = await dc.slash_command("imagine", {"prompt": "#wash a fox"})
            await dc.wait_for_followup(used)
    assert saved["content"].startswith("Saved #wash for this chat: a style.")
    assert request_parts(gemini.requests[0]) == [
        "Reference #wash:",
        "in loose watercolour",
        "#wash a fox",
    ]


async def test_a_full_chat_or_user_refuses_new_names_but_not_replacements(
    tmp_path: Path,
) -> None:
    async def never() -> bool:
        return False

    async with GeminiFake() as fake:
        settings = dataclasses.replace(
            make_settings(tmp_path / "data", fake), references=ReferenceSettings(2, 3, 4)
        )
        async with open_engine(settings) as engine:

            async def save(name: str, *, private: bool = False) -> str:
                return await engine.save_reference(
                    CHAT, ALICE, name, "a style", private=private, chat_admin=never
                )

            answers = [await save(n) for n in ("a", "b", "c", "A")]
            answers += [await save(n, private=True) for n in ("p1", "p2")]
    assert answers[0].startswith("Saved #a for this chat")
    assert answers[2] == "This chat keeps at most 2 references: delete one first."
    assert answers[3].startswith("Saved #A for this chat")  # a replacement needs no room
    assert answers[4].startswith("Saved #p1 for you")
    assert answers[5] == "You can keep at most 3 references: delete one first."
