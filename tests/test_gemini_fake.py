"""The Gemini REST fake, driven by the real google-genai async client (aiohttp transport).

These tests pin the SDK behaviour our model wrapper relies on (google-genai 3.6.1, aiohttp 3.14):

- **Client timeout** (``HttpOptions.timeout`` in ms, aiohttp ``ClientTimeout(total=...)``):
  the SDK raises the builtin ``TimeoutError`` (== ``asyncio.TimeoutError``), not an
  ``errors.APIError`` and not an ``aiohttp.ClientError``. The wrapper must map it explicitly.
- **Connection refused**: ``aiohttp.ClientConnectorError`` (an ``aiohttp.ClientError`` and an
  ``OSError``), raised unwrapped. With ``retry_options`` set it fails at once (a few ms).
  Without ``retry_options`` the SDK silently sleeps ``1 + randint(0, 9)`` s and retries once
  (measured 9 s): always set ``retry_options`` (``attempts=1`` disables retries).
- **A 200 with a non-JSON body** raises ``json.JSONDecodeError`` (a ``ValueError``), unwrapped.
  A 200 JSON body without candidates parses fine with ``candidates is None``.
- **snake_case response keys**: part-level keys (``inline_data``, ``mime_type``,
  ``thought_signature``) parse because parts go straight to pydantic, but the SDK's
  response converter only knows camelCase for candidate/top-level fields, so
  ``finish_reason``, ``usage_metadata`` and ``model_version`` are silently dropped (None).
  The real API sends camelCase, so this only matters for odd proxies.
- **Every new aiohttp session** the SDK creates subclasses ``aiohttp.ClientSession``, which
  emits ``DeprecationWarning: Inheritance class AiohttpClientSession from ClientSession is
  discouraged``. With ``-W error`` that fails the first SDK call of every test, hence the
  ``pytestmark`` filter below (any test that drives the SDK needs it; best put in pyproject).
- ``Candidate.finish_message`` is always None on the Developer API: the converter does not copy
  ``finishMessage`` (only ``finishReason``). Don't build user messages on it.
- The SDK sends ``x-goog-api-key`` and ``x-server-timeout: <ceil seconds>``; request bodies mix
  cases: ``inlineData`` with a snake ``mime_type`` and URL-safe base64, and
  ``generationConfig.thinkingConfig.include_thoughts`` in snake_case.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import MakeClient
from tests.fakes.gemini import (
    DEFAULT_TEXT,
    GeminiFake,
    Reply,
    decode_b64,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession is discouraged"
    ":DeprecationWarning"
)

MODEL = "gemini-2.5-flash-image"
# Bytes whose base64 contains '+' and '/' (standard) or '-' and '_' (URL-safe) and needs padding.
AWKWARD = b"\xfb\xff\xfe\xfa\xef\xbe"
IMAGE_CONFIG = types.GenerateContentConfig(
    response_modalities=["TEXT", "IMAGE"],
    image_config=types.ImageConfig(aspect_ratio="16:9"),
)


@pytest.fixture
async def fake() -> AsyncIterator[GeminiFake]:
    async with GeminiFake() as f:
        yield f


async def generate(
    client: genai.Client,
    contents: types.ContentListUnion | types.ContentListUnionDict = "make it blue",
    model: str = MODEL,
) -> types.GenerateContentResponse:
    return await client.aio.models.generate_content(
        model=model, contents=contents, config=IMAGE_CONFIG
    )


async def raises(exc: type[BaseException], call: Awaitable[object]) -> BaseException:
    with pytest.raises(exc) as info:
        await call
    return info.value


# --------------------------------------------------------------------------- happy path


async def test_default_answer_is_text_plus_a_distinct_png_per_request(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    client = make_client(fake.base_url)
    first = await generate(client)
    second = await generate(client)

    assert first.parts is not None
    text, image = first.parts
    assert text.text == DEFAULT_TEXT
    assert image.inline_data is not None
    assert image.inline_data.mime_type == "image/png"
    assert image.inline_data.data == fake.requests[0].result_image == fake.make_png(0)
    assert image.inline_data.data.startswith(b"\x89PNG")
    assert second.parts is not None
    assert second.parts[-1].inline_data is not None
    assert second.parts[-1].inline_data.data == fake.make_png(1) != fake.make_png(0)

    cand = first.candidates[0] if first.candidates else None
    assert cand is not None
    assert cand.finish_reason == types.FinishReason.STOP
    assert cand.content is not None
    assert cand.content.role == "model"
    usage = first.usage_metadata
    assert usage is not None
    assert usage.candidates_tokens_details is not None
    assert usage.candidates_tokens_details[0].modality == types.MediaModality.IMAGE
    assert usage.prompt_token_count
    assert usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert first.model_version == MODEL
    assert first.response_id
    assert first.response_id != second.response_id

    req = fake.requests[0]
    assert (req.api_version, req.model, req.action) == ("v1beta", MODEL, "generateContent")
    assert req.api_key == "test-key"
    assert req.headers["x-server-timeout"] == "5"
    assert req.generation_config is not None
    assert req.generation_config["responseModalities"] == ["TEXT", "IMAGE"]
    assert req.generation_config["imageConfig"] == {"aspectRatio": "16:9"}


async def test_default_image_size_is_configurable(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.default_image_size = (300, 200)
    resp = await generate(make_client(fake.base_url))
    assert resp.parts is not None
    assert resp.parts[-1].inline_data is not None
    assert resp.parts[-1].inline_data.data == fake.make_png(0)
    assert fake.make_png(0)[16:24] == (300).to_bytes(4, "big") + (200).to_bytes(4, "big")


async def test_snake_case_response_parts_parse_but_sdk_drops_snake_top_level_fields(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.image(AWKWARD))
    fake.response_case = "snake"
    resp = await generate(make_client(fake.base_url))

    body = fake.requests[0].response_json
    part = body["candidates"][0]["content"]["parts"][1]
    assert part["inline_data"]["mime_type"] == "image/png"
    assert "-" in part["inline_data"]["data"] or "_" in part["inline_data"]["data"]
    assert resp.parts is not None
    assert resp.parts[0].text == DEFAULT_TEXT
    assert resp.parts[1].inline_data is not None
    assert resp.parts[1].inline_data.data == AWKWARD
    # SDK behaviour, not a fake bug: its converter reads only camelCase above the parts.
    assert resp.candidates is not None
    assert resp.candidates[0].finish_reason is None
    assert resp.usage_metadata is None


async def test_scripted_exact_image_and_text_only(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(
        Reply.image(b"JPEGDATA", text=None, mime_type="image/jpeg"),
        Reply.text_only("Which cat do you mean?"),
    )
    client = make_client(fake.base_url)
    img = await generate(client)
    txt = await generate(client)
    dflt = await generate(client)

    assert img.parts is not None
    assert len(img.parts) == 1
    assert img.parts[0].inline_data == types.Blob(data=b"JPEGDATA", mime_type="image/jpeg")
    assert txt.text == "Which cat do you mean?"
    assert txt.parts is not None
    assert all(p.inline_data is None for p in txt.parts)
    assert txt.candidates is not None
    assert txt.candidates[0].finish_reason == types.FinishReason.STOP
    assert dflt.parts is not None
    assert dflt.parts[-1].inline_data is not None
    assert dflt.parts[-1].inline_data.data == fake.make_png(2)
    assert fake.pending_replies == 0


# --------------------------------------------------------------------------- recording


async def test_records_the_sdk_snake_case_urlsafe_request(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    client = make_client(fake.base_url)
    contents: list[types.PartUnion] = [
        types.Part.from_bytes(data=AWKWARD, mime_type="image/jpeg"),
        "make it blue",
    ]
    await generate(client, contents)

    req = fake.requests[0]
    raw_inline = req.raw["contents"][0]["parts"][0]["inlineData"]
    assert set(raw_inline) == {"data", "mime_type"}  # what the SDK really sends
    assert "-" in raw_inline["data"] or "_" in raw_inline["data"]
    (content,) = req.contents
    assert content.role == "user"
    image, text = content.parts
    assert (image.image, image.mime_type, image.text) == (AWKWARD, "image/jpeg", None)
    assert (text.text, text.image, text.thought) == ("make it blue", None, False)
    assert req.images == [AWKWARD]


async def test_records_camel_case_standard_base64_requests(fake: GeminiFake) -> None:
    """Other clients (curl, proxies) send the documented camelCase with standard base64."""
    sig = fake.issue_signature()
    std = base64.b64encode(AWKWARD).decode().rstrip("=")
    body = {
        "contents": [
            {"role": "user", "parts": [{"inlineData": {"mimeType": "image/webp", "data": std}}]},
            {
                "role": "model",
                "parts": [
                    {"text": "hmm", "thought": True},
                    {
                        "inline_data": {"mime_type": "image/png", "data": "iVBORw"},
                        "thought_signature": base64.urlsafe_b64encode(sig).decode(),
                    },
                ],
            },
        ],
        "generation_config": {"response_modalities": ["IMAGE"]},
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}/v1/models/x:generateContent", json=body) as resp,
    ):
        assert resp.status == 200
        assert "candidates" in await resp.json()

    req = fake.requests[0]
    assert (req.api_version, req.model) == ("v1", "x")
    assert req.contents[0].parts[0].image == AWKWARD
    assert req.contents[0].parts[0].mime_type == "image/webp"
    model_parts = req.contents[1].parts
    assert model_parts[0].thought is True
    assert model_parts[1].thought_signature == sig
    assert model_parts[1].image == base64.b64decode("iVBORw==")
    assert req.generation_config == {"response_modalities": ["IMAGE"]}
    assert req.api_key is None


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(AWKWARD).decode(),
        base64.b64encode(AWKWARD).decode().rstrip("="),
        base64.urlsafe_b64encode(AWKWARD).decode(),
        base64.urlsafe_b64encode(AWKWARD).decode().rstrip("="),
    ],
)
def test_decode_b64_accepts_both_alphabets_with_or_without_padding(encoded: str) -> None:
    assert decode_b64(encoded) == AWKWARD


async def test_invalid_json_request_is_a_400_and_still_recorded(fake: GeminiFake) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}/v1beta/models/m:generateContent", data=b"{nope") as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"]["status"] == "INVALID_ARGUMENT"
    assert fake.requests[0].raw == {}


# --------------------------------------------------------------------------- gemini 3


async def test_gemini3_answer_has_thoughts_and_signatures_and_replay_passes(
    make_client: MakeClient,
) -> None:
    async with GeminiFake(gemini3=True) as fake:
        client = make_client(fake.base_url)
        first = await generate(client, "draw a cat", model="gemini-3-pro-image-preview")

        assert first.parts is not None
        layout = [
            (bool(p.thought), p.text is not None, p.inline_data is not None, p.thought_signature)
            for p in first.parts
        ]
        assert [row[:3] for row in layout] == [
            (True, True, False),
            (True, False, True),
            (False, True, False),
            (False, False, True),
        ]
        assert [row[3] for row in layout[:2]] == [None, None]
        assert [row[3] for row in layout[2:]] == fake.issued_signatures[-2:]
        final = first.parts[3].inline_data
        assert final is not None
        assert final.data == fake.requests[0].result_image == fake.make_png(0)
        assert first.parts[1].inline_data is not None
        assert first.parts[1].inline_data.data == fake.make_png(0, draft=True)
        assert first.usage_metadata is not None
        assert first.usage_metadata.thoughts_token_count

        # Replay the whole model turn, restored from storage the way DESIGN section 5 says.
        assert first.candidates is not None
        assert first.candidates[0].content is not None
        stored = json.dumps(first.candidates[0].content.model_dump(mode="json", exclude_none=True))
        restored = types.Content.model_validate(json.loads(stored))
        history = [types.UserContent("draw a cat"), restored, types.UserContent("now blue")]
        second = await generate(client, history, model="gemini-3-pro-image-preview")
        assert second.parts is not None
        assert fake.requests[1].response_status == 200
        replayed = fake.requests[1].contents[1].parts
        assert replayed[3].thought_signature == fake.issued_signatures[1]
        assert replayed[3].image == fake.make_png(0)


async def test_gemini3_rejects_an_image_without_its_signature(make_client: MakeClient) -> None:
    async with GeminiFake(gemini3=True) as fake:
        client = make_client(fake.base_url)
        first = await generate(client, "draw a cat")
        assert first.candidates is not None
        assert first.candidates[0].content is not None
        stripped = first.candidates[0].content.model_copy(deep=True)
        assert stripped.parts is not None
        stripped.parts[3].thought_signature = None
        forged = types.ModelContent(
            types.Part.from_bytes(data=fake.make_png(0), mime_type="image/png")
        )
        assert forged.parts is not None
        forged.parts[0].thought_signature = b"not issued by the fake"
        fake.script(Reply.text_only("kept for the next accepted request"))

        history = [types.UserContent("draw a cat"), stripped, types.UserContent("now blue")]
        err = await raises(errors.ClientError, generate(client, history))
        assert isinstance(err, errors.ClientError)
        assert (err.code, err.status) == (400, "INVALID_ARGUMENT")
        assert err.message is not None
        assert err.message.startswith(
            "Image part is missing a thought_signature in content position 2, part position 4."
        )

        history = [types.UserContent("x"), types.UserContent("y"), forged]
        err = await raises(errors.ClientError, generate(client, history))
        assert "content position 3, part position 1." in str(err)

        # Images in user turns never need a signature; rejected requests kept the script.
        user_image: list[types.PartUnion] = [
            types.Part.from_bytes(data=fake.make_png(0), mime_type="image/png"),
            "again",
        ]
        ok = await generate(client, user_image)
        assert ok.text == "kept for the next accepted request"
        assert [r.response_status for r in fake.requests] == [200, 400, 400, 200]


async def test_gemini3_sdk_chat_replays_signatures_by_itself(make_client: MakeClient) -> None:
    async with GeminiFake(gemini3=True) as fake:
        chat = make_client(fake.base_url).aio.chats.create(model="m", config=IMAGE_CONFIG)
        await chat.send_message("draw a cat")
        second = await chat.send_message("now blue")
        assert second.parts is not None
        assert [r.response_status for r in fake.requests] == [200, 200]
        roles = [c.role for c in fake.requests[1].contents]
        assert roles == ["user", "model", "user"]


# --------------------------------------------------------------------------- refusals


async def test_finish_reasons_without_content(fake: GeminiFake, make_client: MakeClient) -> None:
    fake.script(
        Reply.finish("IMAGE_SAFETY", message="Unable to show the generated image."),
        Reply.finish("NO_IMAGE", with_content=True, text="I can only describe it."),
        Reply.finish("FUTURE_REASON"),
    )
    client = make_client(fake.base_url)
    safety, no_image, future = [await generate(client) for _ in range(3)]

    assert safety.candidates is not None
    assert safety.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY
    # The fake sends finishMessage, but the SDK's Developer-API converter never copies it.
    assert fake.requests[0].response_json["candidates"][0]["finishMessage"]
    assert safety.candidates[0].finish_message is None
    assert safety.candidates[0].content is None
    assert safety.parts is None
    assert no_image.candidates is not None
    assert no_image.candidates[0].finish_reason == types.FinishReason.NO_IMAGE
    assert no_image.text == "I can only describe it."
    assert future.candidates is not None
    reason = future.candidates[0].finish_reason
    assert reason is not None
    assert reason.name == "FUTURE_REASON"


async def test_prompt_blocked_has_no_candidates(fake: GeminiFake, make_client: MakeClient) -> None:
    fake.script(Reply.prompt_blocked())
    resp = await generate(make_client(fake.base_url))
    assert not resp.candidates
    assert resp.parts is None
    assert resp.prompt_feedback is not None
    assert resp.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert resp.prompt_feedback.block_reason_message


# --------------------------------------------------------------------------- errors


async def test_rate_limit_carries_retry_info(fake: GeminiFake, make_client: MakeClient) -> None:
    fake.script(Reply.rate_limited(retry_delay="1s"))
    err = await raises(errors.ClientError, generate(make_client(fake.base_url)))
    assert isinstance(err, errors.ClientError)
    assert (err.code, err.status) == (429, "RESOURCE_EXHAUSTED")
    details = err.details["error"]["details"]
    assert details[0]["retryDelay"] == "1s"
    # Real 429s order their details differently; callers should look RetryInfo up by @type.
    by_type = {d["@type"].rsplit(".", 1)[-1]: d for d in details}
    assert by_type["RetryInfo"]["retryDelay"] == "1s"
    assert by_type["QuotaFailure"]["violations"][0]["quotaDimensions"]["model"] == MODEL


@pytest.mark.parametrize(
    ("status", "status_name"),
    [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")],
)
async def test_server_errors(
    fake: GeminiFake, make_client: MakeClient, status: int, status_name: str
) -> None:
    fake.script(Reply.server_error(status))
    err = await raises(errors.ServerError, generate(make_client(fake.base_url)))
    assert isinstance(err, errors.ServerError)
    assert (err.code, err.status) == (status, status_name)


async def test_not_found_and_bad_api_key(make_client: MakeClient) -> None:
    async with GeminiFake(expected_api_key="test-key") as fake:
        fake.script(Reply.not_found())
        client = make_client(fake.base_url)
        err = await raises(errors.ClientError, generate(client, model="gemini-9-image"))
        assert isinstance(err, errors.ClientError)
        assert err.code == 404
        assert err.message is not None
        assert err.message.startswith("models/gemini-9-image is not found for API version v1beta")

        fake.expected_api_key = "another-key"
        err = await raises(errors.ClientError, generate(client))
        assert isinstance(err, errors.ClientError)
        assert err.code == 400
        assert err.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


async def test_malformed_success_bodies(fake: GeminiFake, make_client: MakeClient) -> None:
    fake.script(Reply.malformed("not json"), Reply.malformed("no candidates"))
    client = make_client(fake.base_url)
    await raises(json.JSONDecodeError, generate(client))
    resp = await generate(client)
    assert resp.candidates is None
    assert resp.prompt_feedback is None
    assert resp.parts is None


# --------------------------------------------------------------------------- time


async def test_hang_times_out_in_the_client_with_builtin_timeout_error(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.hang())
    client = make_client(fake.base_url, timeout_ms=500)
    err = await raises(TimeoutError, generate(client))
    assert not isinstance(err, errors.APIError | aiohttp.ClientError)
    assert fake.requests[0].headers["x-server-timeout"] == "1"
    assert fake.requests[0].response_status is None  # still hanging server-side


async def test_close_releases_hanging_requests_promptly(make_client: MakeClient) -> None:
    fake = GeminiFake()
    await fake.start()
    fake.script(Reply.hang())
    call = asyncio.create_task(generate(make_client(fake.base_url, timeout_ms=30_000)))
    await fake.wait_for_requests(1, timeout=5)
    started = time.monotonic()
    await fake.close()
    assert time.monotonic() - started < 1.0
    err = await raises(errors.ServerError, asyncio.wait_for(call, timeout=5))
    assert isinstance(err, errors.ServerError)
    assert err.code == 503


async def test_latency_and_delay_then_reply(fake: GeminiFake, make_client: MakeClient) -> None:
    fake.latency = 0.1
    fake.script(Reply.delay(0.1, then=Reply.text_only("late")), Reply.delay(0.0))
    client = make_client(fake.base_url)
    started = time.monotonic()
    late = await generate(client)
    assert time.monotonic() - started >= 0.1
    assert late.text == "late"
    delayed_default = await generate(client)
    assert delayed_default.parts is not None
    assert delayed_default.parts[-1].inline_data is not None
    started = time.monotonic()
    await generate(client)  # default reply: fake.latency applies
    assert time.monotonic() - started >= 0.1


async def test_wait_for_requests_is_bounded(fake: GeminiFake, make_client: MakeClient) -> None:
    await raises(TimeoutError, fake.wait_for_requests(1, timeout=0.05))
    fake.script(Reply.hang())
    call = asyncio.create_task(generate(make_client(fake.base_url)))
    (req,) = await fake.wait_for_requests(1, timeout=5)
    assert req.response_status is None
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_connection_refused_fails_fast_with_retry_options(make_client: MakeClient) -> None:
    async with GeminiFake() as fake:
        url = fake.base_url
    client = make_client(url)
    started = time.monotonic()
    err = await raises(aiohttp.ClientConnectorError, generate(client))
    assert isinstance(err, OSError)
    assert not isinstance(err, errors.APIError)
    assert time.monotonic() - started < 1.0  # no hidden 1-10 s sleep with retry_options set
