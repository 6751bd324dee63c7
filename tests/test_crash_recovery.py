"""`kill -9` while a model call is in flight: after a restart nothing the user sent is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import photo
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings

ROOT = Path(__file__).parent.parent


def write_config(path: Path, data_dir: Path, gemini: GeminiFake, tg: TelegramFake) -> None:
    path.write_text(
        f"""
[gemini]
api_key = "test-key-123"
base_url = "{gemini.base_url}"
timeout_s = 60
[storage]
data_dir = "{data_dir}"
[telegram]
token = "{tg.token}"
api_base_url = "{tg.api_base_url}"
file_base_url = "{tg.file_base_url}"
""",
        encoding="utf-8",
    )


@pytest.mark.parametrize("drafting", [False, True], ids=["waiting", "drafting"])
async def test_kill_9_mid_call_then_restart_announces_with_retry(
    tmp_path: Path, drafting: bool
) -> None:
    """Also while the model streams its thoughts and the user watches a draft."""
    data_dir = tmp_path / "data"
    config = tmp_path / "config.toml"
    async with TelegramFake() as tg, GeminiFake(gemini3=drafting) as gemini:
        gemini.script(Reply.thinking(draft_at=(0.0,), hold=True) if drafting else Reply.hang())
        write_config(config, data_dir, gemini, tg)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"GEMINI_API_KEY", "GOOGLE_API_KEY", "DISCORD_BOT_TOKEN"}
        }
        process = subprocess.Popen(  # noqa: ASYNC220 - a real process, killed for real
            [sys.executable, "-m", "bot", "run", "--config", str(config)],
            cwd=ROOT,
            env={**env, "PTB_TIMEDELTA": "true"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), timeout=60)
            alice = tg.user(1, "Alice")
            chat = tg.private_chat(alice)
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="make it blue")
            await gemini.wait_for_requests(1, timeout=30)  # the model call is in flight
            if drafting:
                draft = await tg.wait_for_call("sendPhoto", timeout=30)
                assert draft.params["caption"].startswith("Draft")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL

        settings = telegram_settings(data_dir, gemini, tg)
        async with running_bot(tg, settings) as bot:
            notice = await bot.reply_to(sent, "sendMessage", linked=True)
            assert "restarted while working" in notice.params["text"]
            button = notice.params["reply_markup"]["inline_keyboard"][0][0]
            assert button["text"] == "Retry"
            tg.press_button(chat, alice, bot.posted(notice), button["callback_data"])
            result = await bot.reply_to(sent)
    # The retried request carries exactly what the user sent before the crash.
    assert gemini.requests[-1].contents == gemini.requests[0].contents
    assert result.upload("photo") == gemini.requests[-1].result_image
