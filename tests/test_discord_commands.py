"""Slash commands and the Edit image menu, as conversations with the real adapter."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from adapters.discord.steps import matching_choices
from bot.config import AccessSettings
from bot.engine import Engine
from bot.request import ChatKey
from tests.conftest import RESULT_ACTIONS
from tests.discord_harness import (
    attachment_bytes,
    bot_messages,
    bot_settings,
    button_ids,
    button_labels,
    ephemeral_answer,
    noisy_png,
    png,
    result_button_ids,
    serving,
    texts_of,
    until_linked,
)
from tests.fakes.discord import FLAG_EPHEMERAL, DiscordFake
from tests.fakes.gemini import GeminiFake, Reply


async def test_edit_defers_then_follows_up_with_the_result_and_buttons(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    red, blue = png((200, 0, 0)), png((0, 0, 200))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command(
            "edit",
            {
                "image": dc.add_attachment(red, "red.png"),
                "prompt": "blend them",
                "image2": dc.add_attachment(blue, "blue.png"),
            },
        )
        [result] = await dc.wait_for_followup(inter)

    assert inter.callback_types == [5]  # deferred ("thinking") before anything else
    [request] = gemini.requests
    assert request.images == [red, blue]  # both attachments, in the user's order
    assert texts_of(request) == [("user", ["blend them"])]
    assert attachment_bytes(dc, result) == [request.result_image]
    assert button_ids(result) == result_button_ids(2)
    assert button_labels(result) == RESULT_ACTIONS


async def test_edit_with_more_pictures_than_the_model_takes_says_what_it_used(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    pictures = [png((40 * i, 0, 0)) for i in range(1, 5)]
    options: dict[str, object] = {"prompt": "a collage"}
    for name, data in zip(("image", "image2", "image3", "image4"), pictures, strict=True):
        options[name] = dc.add_attachment(data, f"{name}.png")
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command("edit", options)
        [result] = await dc.wait_for_followup(inter)

    [request] = gemini.requests
    assert request.images == pictures[:3]  # gemini-2.5-flash-image takes three
    assert "-# The model takes 3 images at most: used 3 of 4." in result["content"]


async def test_a_long_text_answer_is_split_over_messages(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    question = "Which of these styles do you mean? " + "watercolor, oil, ink. " * 150
    gemini.script(Reply.text_only(question))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command("imagine", {"prompt": "in the style"})
        first, second = await dc.wait_for_followup(inter, 2)

    assert len(first["content"]) <= 2000
    assert first["content"].startswith("The model answered without an image:")
    assert button_ids(first) == ["bb2:r:2"]  # no Original for a text answer
    assert button_ids(second) == []
    assert (first["content"] + " " + second["content"]).endswith("watercolor, oil, ink.")


async def test_a_command_too_late_to_acknowledge_is_answered_in_the_channel(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    dc.interaction_deadline = 0.0  # every acknowledgement comes too late
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command("imagine", {"prompt": "a late train"})
        [posted] = await bot_messages(dc, dc.channel_id, 1)

    assert inter.callbacks == []
    assert posted["content"].startswith(f"<@{dc.user_id}>")
    assert attachment_bytes(dc, posted) == [gemini.requests[0].result_image]


async def test_imagine_uses_options_and_refuses_bad_ones_before_deferring(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        bad = await dc.slash_command("imagine", {"prompt": "a fox", "aspect_ratio": "7:3"})
        refusal = await ephemeral_answer(dc, bad)
        good = await dc.slash_command("imagine", {"prompt": "a fox", "aspect_ratio": "16:9"})
        await dc.wait_for_followup(good)

    assert "7:3 is not a valid choice for Aspect ratio" in refusal["content"]
    assert bad.callback_types == [4]
    [request] = gemini.requests
    assert request.generation_config is not None
    assert request.generation_config["imageConfig"] == {"aspectRatio": "16:9"}


async def test_a_non_image_attachment_or_a_stranger_gets_an_ephemeral_no_without_downloads(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    stranger = dc.add_user("mallory")
    access = AccessSettings(allowed_users=(str(dc.user_id),))
    async with serving(bot_settings(tmp_path / "data", gemini, dc, access=access)):
        text_file = dc.add_attachment(b"hello", "notes.txt", "text/plain")
        not_image = await dc.slash_command("edit", {"image": text_file, "prompt": "x"})
        wrong_type = await ephemeral_answer(dc, not_image)
        photo = dc.add_attachment(png(), "photo.png")
        denied = await dc.slash_command("edit", {"image": photo, "prompt": "x"}, user=stranger)
        refusal = await ephemeral_answer(dc, denied)

    assert "not an image" in wrong_type["content"]
    assert refusal["content"] == "Sorry, you are not allowed to use this bot here."
    assert dc.cdn_downloads == []
    assert gemini.requests == []


async def test_role_and_server_access_lists_see_discord_roles_and_servers(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    artists = dc.add_role("artists", 0)
    painter = dc.add_user("painter", roles=[artists])
    access = AccessSettings(allowed_roles=(artists["id"],), allowed_guilds=(str(dc.guild_id),))
    async with serving(bot_settings(tmp_path / "data", gemini, dc, access=access)):
        denied = await dc.slash_command("imagine", {"prompt": "a vase"})
        refusal = await ephemeral_answer(dc, denied)
        allowed = await dc.slash_command("imagine", {"prompt": "a vase"}, user=painter)
        await dc.wait_for_followup(allowed)

    assert refusal["content"] == "Sorry, you are not allowed to use this bot here."
    assert len(gemini.requests) == 1


async def test_an_attachment_over_the_size_limit_is_refused_without_downloading_it(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    settings = bot_settings(tmp_path / "data", gemini, dc)
    settings = dataclasses.replace(
        settings, limits=dataclasses.replace(settings.limits, max_image_bytes=2048)
    )
    big = noisy_png((40, 30))
    assert len(big) > 2048
    async with serving(settings):
        inter = await dc.slash_command(
            "edit", {"image": dc.add_attachment(big, "big.png"), "prompt": "crop it"}
        )
        [answer] = await dc.wait_for_followup(inter)

    assert answer["content"].startswith("That file is too large")
    assert dc.cdn_downloads == []  # Discord's declared size was enough to say no
    assert gemini.requests == []


async def test_chinese_locale_gets_chinese_failure_and_buttons(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    gemini.script(Reply.prompt_blocked())
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command("imagine", {"prompt": "something bad"}, locale="zh-CN")
        [answer] = await dc.wait_for_followup(inter)
        help_inter = await dc.slash_command("help", locale="zh-TW")
        help_text = await ephemeral_answer(dc, help_inter)

    assert "出于安全原因" in answer["content"]
    assert button_labels(answer) == ["重试"]  # a blocked step can be retried
    assert button_ids(answer) == ["bb2:r:1"]  # the stored user turn
    assert "使用 Google 的 Gemini 图像模型编辑图片" in help_text["content"]


async def test_settings_are_for_manage_server_members_and_apply_to_the_channel(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        denied = await dc.slash_command("settings", {"aspect_ratio": "16:9"})
        refusal = await ephemeral_answer(dc, denied)

        dc.add_role("mods", 1 << 5, members=[dc.user])  # MANAGE_GUILD
        allowed = await dc.slash_command("settings", {"aspect_ratio": "16:9"})
        saved = await ephemeral_answer(dc, allowed)
        wrong = await dc.slash_command("settings", {"aspect_ratio": "7:3"})
        refused_value = await ephemeral_answer(dc, wrong)
        shown = await dc.slash_command("settings")
        current = await ephemeral_answer(dc, shown)

        inter = await dc.slash_command("imagine", {"prompt": "a wide landscape"})
        await dc.wait_for_followup(inter)

    assert "Only members with Manage Server" in refusal["content"]
    assert "- Aspect ratio: 16:9" in saved["content"]
    assert "7:3 is not a valid choice for Aspect ratio" in refused_value["content"]
    assert "- Aspect ratio: 16:9" in current["content"]
    assert "- Size: default" in current["content"]
    [request] = gemini.requests
    assert request.generation_config is not None
    assert request.generation_config["imageConfig"] == {"aspectRatio": "16:9"}


async def test_bot_admins_may_change_settings_and_the_language_follows(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    access = AccessSettings(admins=(str(dc.user_id),))
    async with serving(bot_settings(tmp_path / "data", gemini, dc, access=access)):
        inter = await dc.slash_command("settings", {"language": "zh-Hans"})
        saved = await ephemeral_answer(dc, inter)
        usage = await dc.slash_command("usage")  # an English client, a Chinese channel
        usage_text = await ephemeral_answer(dc, usage)

    assert saved["content"].startswith("已保存")
    assert usage_text["content"].startswith("你今天生成了 0 张图片（0 个 token）。")


async def test_usage_counts_todays_images_against_the_daily_limit(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    settings = bot_settings(tmp_path / "data", gemini, dc)
    settings = dataclasses.replace(
        settings, limits=dataclasses.replace(settings.limits, daily_images_per_user=1)
    )
    async with serving(settings):
        inter = await dc.slash_command("imagine", {"prompt": "a pear"})
        await dc.wait_for_followup(inter)
        usage = await dc.slash_command("usage")
        text = await ephemeral_answer(dc, usage)
        again = await dc.slash_command("imagine", {"prompt": "another pear"})
        [refusal] = await dc.wait_for_followup(again)

    assert text["content"].startswith("Today you made 1 of 1 image (")
    assert refusal["content"].startswith("You have used your 1 image for today.")
    assert button_ids(refusal) == []
    assert len(gemini.requests) == 1


async def test_forget_asks_first_and_only_the_asker_can_confirm(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    bob = dc.add_user("bob")
    async with serving(bot_settings(tmp_path / "data", gemini, dc)) as engine:
        inter = await dc.slash_command("imagine", {"prompt": "my secret"})
        [result] = await dc.wait_for_followup(inter)
        await until_linked(engine, dc.channel_id, result)
        asked = await dc.slash_command("forget")
        await ephemeral_answer(dc, asked)
        assert asked.original is not None
        [custom_id] = button_ids(asked.original)
        intruder = await dc.press_button(asked.original, custom_id, user=bob)
        refusal = await ephemeral_answer(dc, intruder)
        confirm = await dc.press_button(asked.original, custom_id)
        await dc.wait_for_callback(confirm)
        still_linked = await engine.is_linked(ChatKey("discord", str(dc.channel_id)), result["id"])

    assert custom_id == f"bb2:f:{dc.user_id}"
    assert asked.callbacks[0]["data"]["content"].startswith("Delete everything you sent me")
    assert refusal["content"] == "This button is for the person who asked."
    assert confirm.callback_types == [7]  # the confirmation message is replaced
    assert confirm.callbacks[0]["data"]["content"] == "Done: 2 turns deleted."
    assert not still_linked


async def test_expired_interaction_token_falls_back_to_the_channel(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    gemini.script(Reply.delay(0.5))  # the token dies while the model works
    async with serving(bot_settings(tmp_path / "data", gemini, dc)) as engine:
        inter = await dc.slash_command("imagine", {"prompt": "a slow snail"})
        await gemini.wait_for_requests(1)
        dc.expire_interaction(inter)
        [posted] = await bot_messages(dc, dc.channel_id, 1, with_files=True)
        await until_linked(engine, dc.channel_id, posted)

    assert inter.followups == []
    assert [c.status for c in dc.calls_to("POST", r"^/webhooks/")] == [404]
    assert posted["content"].startswith(f"<@{dc.user_id}>")
    assert attachment_bytes(dc, posted) == [gemini.requests[0].result_image]
    assert button_ids(posted) == result_button_ids(2)


async def test_queue_position_is_shown_then_replaced_by_the_result(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    gemini.script(Reply.delay(0.5))
    settings = bot_settings(
        tmp_path / "data", gemini, dc, gemini_options={"max_concurrent_requests": 1}
    )
    async with serving(settings):
        first = await dc.slash_command("imagine", {"prompt": "first"})
        await gemini.wait_for_requests(1)
        second = await dc.slash_command("imagine", {"prompt": "second"})
        await dc.wait_for(lambda: second.original and "queue" in second.original["content"])
        [first_result] = await dc.wait_for_followup(first)
        await dc.wait_for(lambda: second.original and second.original["attachments"])

    assert second.original is not None
    assert second.original["content"] == "Here is your edited image."
    # Both answers are stored after the model slot is released, in either order.
    turns = {button_ids(m)[0] for m in (first_result, second.original)}
    assert turns == {"bb2:r:3", "bb2:r:4"}
    assert second.followups == []  # the result took the place of the status


async def test_unexpected_errors_are_logged_and_answered_in_place(
    tmp_path: Path,
    gemini: GeminiFake,
    dc: DiscordFake,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Engine, "handle", broken)
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command("imagine", {"prompt": "anything"})
        [answer] = await dc.wait_for_followup(inter)

    assert answer["content"].startswith("Something went wrong on my side.")
    failures = [r for r in caplog.records if r.name == "adapters.discord.boundary"]
    assert failures[0].levelno == logging.ERROR
    assert failures[0].exc_info is not None


async def test_edit_image_menu_on_a_photo_asks_and_edits_it(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    photo = png((10, 200, 10))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        target = await dc.user_message(
            content="my cat", attachments=[dc.add_attachment(photo, "cat.png")]
        )
        opened = await dc.message_context_menu("Edit image", target)
        await dc.wait_for_callback(opened)
        assert opened.modal is not None
        [field] = [c for row in opened.modal["components"] for c in row["components"]]
        submitted = await dc.submit_modal(opened.modal["custom_id"], {field["custom_id"]: "a hat"})
        [result] = await dc.wait_for_followup(submitted)

    assert opened.callback_types == [9]
    assert opened.modal["title"] == "Edit image"
    assert submitted.callback_types == [5]
    [request] = gemini.requests
    assert request.images == [photo]
    assert texts_of(request) == [("user", ["a hat"])]
    assert attachment_bytes(dc, result) == [request.result_image]


async def test_edit_image_menu_on_a_result_continues_its_lineage(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)) as engine:
        first = await dc.slash_command("imagine", {"prompt": "a red car"})
        [result] = await dc.wait_for_followup(first)
        await until_linked(engine, dc.channel_id, result)
        opened = await dc.message_context_menu("Edit image", result)
        await dc.wait_for_callback(opened)
        assert opened.modal is not None
        [field] = [c for row in opened.modal["components"] for c in row["components"]]
        submitted = await dc.submit_modal(
            opened.modal["custom_id"], {field["custom_id"]: "make it blue"}
        )
        await dc.wait_for_followup(submitted)

    second = gemini.requests[1]
    assert texts_of(second)[0] == ("user", ["a red car"])
    assert second.contents[1].role == "model"
    assert texts_of(second)[2] == ("user", ["make it blue"])
    assert second.images == [gemini.requests[0].result_image]  # no duplicate of the result


async def test_edit_image_menu_on_a_message_without_images_says_so(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        target = await dc.user_message(content="just words")
        inter = await dc.message_context_menu("Edit image", target)
        answer = await ephemeral_answer(dc, inter)

    assert answer["content"] == "That message has no image I can edit."
    assert int(answer["flags"]) & FLAG_EPHEMERAL


def test_autocomplete_offers_the_values_containing_what_was_typed() -> None:
    ratios = ("1:1", "16:9", "9:16", "4:3")
    assert [c.value for c in matching_choices(ratios, "16")] == ["16:9", "9:16"]
    assert [c.value for c in matching_choices(ratios, "")] == list(ratios)
    assert len(matching_choices([str(i) for i in range(40)], "")) == 25
