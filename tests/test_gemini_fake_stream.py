"""The Gemini fake's ``streamGenerateContent?alt=sse``, driven by the real google-genai SDK.

SDK behaviour pinned here (google-genai 3.6.1, aiohttp transport):

- ``await client.aio.models.generate_content_stream(...)`` sends NOTHING: it returns an async
  generator, and the request goes out on the first iteration. So an error before the stream
  (any non-200 status) raises ``errors.ClientError``/``ServerError`` from the first
  ``__anext__``, with no chunk yielded.
- An error event mid-stream (``data: {"error": {...}}``) raises the same ``APIError``
  subclasses from the iteration, after the chunks before it were yielded. The SDK's automatic
  continuation does not retry it: it only resumes streams that sent a ``continuationToken``.
- A connection dropped mid-stream raises ``aiohttp.ClientPayloadError`` unwrapped (not an
  ``APIError``); dropped before any byte: ``aiohttp.ServerDisconnectedError``.
- Cancelling the task that iterates the stream closes the connection at once. ``aclose()`` on
  the iterator does NOT: the response and its generator form a reference cycle, so the
  connection stays open until a garbage collection (or ``client.aio.aclose()``).
- The SDK sends ``generationConfig.thinkingConfig.include_thoughts`` (snake inside camel) and
  ``tools: [{"googleSearch": {}}]``; ``groundingMetadata`` parses into
  ``candidates[0].grounding_metadata``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import MakeClient
from tests.fakes.gemini import DEFAULT_SOURCES, DEFAULT_THOUGHTS, GeminiFake, Reply
from tests.fakes.gemini.streaming import split_text

MODEL = "gemini-3-pro-image-preview"
THOUGHTS = types.GenerateContentConfig(
    response_modalities=["TEXT", "IMAGE"],
    thinking_config=types.ThinkingConfig(include_thoughts=True),
)
PLAIN = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
SEARCH = types.GenerateContentConfig(
    response_modalities=["TEXT", "IMAGE"],
    tools=[types.Tool(google_search=types.GoogleSearch())],
)
Chunks = list[types.GenerateContentResponse]


@pytest.fixture
async def fake() -> AsyncIterator[GeminiFake]:
    async with GeminiFake() as f:
        yield f


async def stream(
    client: genai.Client,
    config: types.GenerateContentConfig = THOUGHTS,
    into: Chunks | None = None,
    contents: types.ContentListUnion | types.ContentListUnionDict = "draw a cat",
) -> Chunks:
    """Every chunk of one streamed call (also appended to ``into`` as they arrive)."""
    chunks = [] if into is None else into
    async for chunk in await client.aio.models.generate_content_stream(
        model=MODEL, contents=contents, config=config
    ):
        chunks.append(chunk)
    return chunks


async def drain(chunks: AsyncIterator[types.GenerateContentResponse], into: Chunks) -> None:
    async for chunk in chunks:
        into.append(chunk)


def parts_of(chunk: types.GenerateContentResponse) -> list[types.Part]:
    assert chunk.candidates is not None
    content = chunk.candidates[0].content
    assert content is not None
    return list(content.parts or [])


def assemble(chunks: Chunks) -> list[types.Part]:
    """The reference assembly rule (see tests/fakes/gemini/streaming.py): concatenate the
    chunks' parts; merge consecutive texts with the same ``thought`` flag unless both are
    signed; a merged part keeps its one signature."""
    parts: list[types.Part] = []
    for chunk in chunks:
        for part in parts_of(chunk):
            last = parts[-1] if parts else None
            if (
                last is not None
                and last.text is not None
                and part.text is not None
                and bool(last.thought) == bool(part.thought)
                and not (last.thought_signature and part.thought_signature)
            ):
                merged = {
                    "text": last.text + part.text,
                    "thought_signature": last.thought_signature or part.thought_signature,
                }
                parts[-1] = last.model_copy(update=merged)
            else:
                parts.append(part)
    return parts


def unsigned(parts: list[types.Part]) -> list[dict[str, Any]]:
    return [p.model_dump(exclude={"thought_signature"}, exclude_none=True) for p in parts]


def layout(chunks: Chunks) -> list[list[tuple[str, bool, bool]]]:
    """Per chunk, per part: (text or "image", thought, signed)."""
    return [
        [
            (p.text if p.text is not None else "image", bool(p.thought), bool(p.thought_signature))
            for p in parts_of(chunk)
        ]
        for chunk in chunks
    ]


def finish_reasons(chunks: Chunks) -> list[types.FinishReason | None]:
    return [c.candidates[0].finish_reason if c.candidates else None for c in chunks]


async def raises(exc: type[BaseException], call: Any) -> BaseException:
    with pytest.raises(exc) as info:
        await call
    return info.value


# --------------------------------------------------------------------------- default answers


@pytest.mark.parametrize("gemini3", [True, False])
async def test_default_stream_assembles_to_the_plain_answer(
    make_client: MakeClient, gemini3: bool
) -> None:
    # Two fakes, so both answers are for "request 0" and carry the same default images.
    async with GeminiFake(gemini3=gemini3) as streamed, GeminiFake(gemini3=gemini3) as plain:
        chunks = await stream(make_client(streamed.base_url))
        whole = await make_client(plain.base_url).aio.models.generate_content(
            model=MODEL, contents="draw a cat", config=THOUGHTS
        )

        assert whole.parts is not None
        assert unsigned(assemble(chunks)) == unsigned(whole.parts)
        assert [p.thought_signature is not None for p in assemble(chunks)] == [
            p.thought_signature is not None for p in whole.parts
        ]
        rec = streamed.requests[0]
        assert (rec.action, rec.streamed, rec.response_status) == (
            "streamGenerateContent",
            True,
            200,
        )
        assert rec.response_images == plain.requests[0].response_images
        assert rec.result_image == streamed.make_png(0)
        assert len(rec.chunks) == len(rec.chunk_times) == len(chunks)
        final_text = "Here it is" if gemini3 else "Here is your edited image."
        fragments = [
            (t, False, signed)
            for t, signed in zip(split_text(final_text), [gemini3, False], strict=True)
        ]
        expected = [[f] for f in fragments] + [[("image", False, gemini3)]]
        if gemini3:
            expected = [[("thinking...", True, False)], [("image", True, False)], *expected]
        assert layout(chunks) == expected
        assert finish_reasons(chunks) == [None] * (len(chunks) - 1) + [types.FinishReason.STOP]
        assert {c.response_id for c in chunks} == {chunks[0].response_id}
        assert {c.model_version for c in chunks} == {MODEL}
        last_usage = chunks[-1].usage_metadata
        assert last_usage is not None
        assert last_usage.candidates_token_count
        assert (last_usage.thoughts_token_count is not None) == gemini3
        first_usage = chunks[0].usage_metadata
        assert first_usage is not None
        assert first_usage.prompt_token_count == last_usage.prompt_token_count
        assert first_usage.candidates_token_count is None


async def test_streamed_signatures_are_accepted_on_the_next_turn(make_client: MakeClient) -> None:
    async with GeminiFake(gemini3=True) as fake:
        client = make_client(fake.base_url)
        model_turn = types.Content(role="model", parts=assemble(await stream(client)))
        assert model_turn.parts is not None
        text, image = model_turn.parts[-2:]
        assert (text.thought_signature, image.thought_signature) == tuple(
            fake.issued_signatures[-2:]
        )
        history = [types.UserContent("draw a cat"), model_turn, types.UserContent("now blue")]
        await stream(client, contents=history)
        assert [r.response_status for r in fake.requests] == [200, 200]
        assert fake.requests[1].contents[1].parts[-1].image == fake.make_png(0)


async def test_thought_parts_only_when_the_request_asks_for_them(
    make_client: MakeClient,
) -> None:
    async with GeminiFake(gemini3=True) as fake:
        client = make_client(fake.base_url)
        hidden = await stream(client, PLAIN)
        off = types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(include_thoughts=False)
        )
        also_hidden = await stream(client, off)
        shown = await stream(client, THOUGHTS)

        assert not any(p.thought for c in hidden + also_hidden for p in parts_of(c))
        assert [p.thought for c in shown for p in parts_of(c)][:2] == [True, True]
        assert fake.requests[2].generation_config is not None
        assert fake.requests[2].generation_config["thinkingConfig"] == {"include_thoughts": True}
        assert [r.include_thoughts for r in fake.requests] == [False, False, True]
        # The model still thought: the usage says so even when the thoughts are hidden.
        assert hidden[-1].usage_metadata is not None
        assert hidden[-1].usage_metadata.thoughts_token_count

    async with GeminiFake(gemini3=False) as fake:
        chunks = await stream(make_client(fake.base_url), THOUGHTS)
        assert not any(p.thought for c in chunks for p in parts_of(c))


async def test_wire_format_and_camel_case_include_thoughts(fake: GeminiFake) -> None:
    fake.gemini3 = True
    body = {
        "contents": [{"role": "user", "parts": [{"text": "draw a cat"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}},
    }
    url = f"{fake.base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        raw = await resp.read()

    events = raw.split(b"\r\n\r\n")
    assert events[-1] == b""
    assert all(e.startswith(b"data: {") for e in events[:-1])
    assert raw == fake.requests[0].response_body
    rec = fake.requests[0]
    assert rec.include_thoughts
    assert rec.chunks[0]["candidates"][0]["content"]["parts"] == [
        {"text": "thinking...", "thought": True}
    ]


# --------------------------------------------------------------------------- Reply.thinking


async def test_thinking_timeline_streams_drafts_then_the_answer(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.thinking(draft_at=(0.1, 0.2), final_at=0.3))
    chunks = await stream(make_client(fake.base_url))

    first, second = DEFAULT_THOUGHTS
    assert layout(chunks) == [
        [(first, True, False)],
        [("image", True, False)],
        [(second, True, False)],
        [("image", True, False)],
        [("Here is your", False, True)],
        [(" edited image.", False, False)],
        [("image", False, True)],
    ]
    images = [p.inline_data.data for c in chunks for p in parts_of(c) if p.inline_data]
    assert images == [fake.draft_png(0, 0), fake.draft_png(0, 1), fake.make_png(0)]
    assert len(set(images)) == 3
    assert finish_reasons(chunks)[-1] == types.FinishReason.STOP

    times = fake.requests[0].chunk_times
    assert times == sorted(times)
    assert times[1] >= 0.1 and times[2] >= 0.1  # draft 1 and the thought after it
    assert times[3] >= 0.2
    assert all(t >= 0.3 for t in times[4:])
    assert fake.requests[0].disconnected_after is None


async def test_thinking_release_holds_the_ending_until_the_test_sets_it(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    release = asyncio.Event()
    fake.script(Reply.thinking(draft_at=(0.0,), release=release))
    reader = asyncio.create_task(stream(make_client(fake.base_url)))
    (rec,) = await fake.wait_for_requests(1, timeout=5)
    await fake.wait_for(lambda: len(rec.chunk_times) >= 3, timeout=5)
    # A negative needs a window; final_at (0.0) is long past, only the release is missing.
    await raises(TimeoutError, fake.wait_for(lambda: len(rec.chunk_times) > 3, timeout=0.2))
    release.set()
    chunks = await asyncio.wait_for(reader, timeout=5)
    assert len(chunks) == 6
    assert finish_reasons(chunks)[-1] == types.FinishReason.STOP


async def test_thinking_without_include_thoughts_sends_only_the_answer_at_final_at(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.thinking(draft_at=(0.05,), final_at=0.15))
    chunks = await stream(make_client(fake.base_url), PLAIN)
    assert not any(p.thought for c in chunks for p in parts_of(c))
    assert fake.requests[0].chunk_times[0] >= 0.15


async def test_thinking_on_a_plain_request_answers_whole_at_final_at(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(
        Reply.thinking(draft_at=(0.05, 0.1), final_at=0.15),
        Reply.thinking(draft_at=(0.05,), final_at=0.1, error=Reply.rate_limited()),
    )
    client = make_client(fake.base_url)
    started = time.monotonic()
    whole = await client.aio.models.generate_content(model=MODEL, contents="x", config=PLAIN)
    assert time.monotonic() - started >= 0.15
    assert whole.parts is not None
    assert [(bool(p.thought), p.inline_data is not None) for p in whole.parts] == [
        (True, False),
        (True, True),
        (True, False),
        (True, True),
        (False, False),
        (False, True),
    ]
    assert fake.requests[0].response_images == [
        fake.draft_png(0, 0),
        fake.draft_png(0, 1),
        fake.make_png(0),
    ]
    err = await raises(
        errors.ClientError,
        client.aio.models.generate_content(model=MODEL, contents="x", config=PLAIN),
    )
    assert isinstance(err, errors.ClientError)
    assert err.code == 429


async def test_thinking_streams_assemble_to_the_plain_thinking_answer(
    make_client: MakeClient,
) -> None:
    reply = Reply.thinking(draft_at=(0.0, 0.0))
    async with GeminiFake(gemini3=True) as streamed, GeminiFake(gemini3=True) as plain:
        streamed.script(reply)
        plain.script(reply)
        chunks = await stream(make_client(streamed.base_url))
        whole = await make_client(plain.base_url).aio.models.generate_content(
            model=MODEL, contents="draw a cat", config=THOUGHTS
        )
        assert whole.parts is not None
        assert unsigned(assemble(chunks)) == unsigned(whole.parts)


@pytest.mark.parametrize(
    ("error", "exc", "code"),
    [
        (Reply.server_error(503), errors.ServerError, 503),
        (Reply.server_error(500), errors.ServerError, 500),
        (Reply.rate_limited(), errors.ClientError, 429),
    ],
)
async def test_error_mid_stream_raises_after_the_drafts(
    fake: GeminiFake,
    make_client: MakeClient,
    error: Reply,
    exc: type[errors.APIError],
    code: int,
) -> None:
    fake.script(Reply.thinking(draft_at=(0.05, 0.1), error=error))
    received: Chunks = []
    err = await raises(exc, stream(make_client(fake.base_url), into=received))
    assert isinstance(err, errors.APIError)
    assert err.code == code
    assert len(received) == 4  # first thought, draft 1, second thought, draft 2
    assert [p.inline_data.data for c in received for p in parts_of(c) if p.inline_data] == [
        fake.draft_png(0, 0),
        fake.draft_png(0, 1),
    ]
    rec = fake.requests[0]
    assert rec.response_status == 200
    assert list(rec.chunks[-1]) == ["error"]
    assert len(fake.requests) == 1  # the SDK did not retry the stream


async def test_dropped_connection_mid_stream_raises_client_payload_error(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.thinking(draft_at=(0.05,), error=Reply.drop()))
    received: Chunks = []
    err = await raises(
        aiohttp.ClientPayloadError, stream(make_client(fake.base_url), into=received)
    )
    assert not isinstance(err, errors.APIError)
    assert len(received) == 3
    assert len(fake.requests) == 1


async def test_drop_before_any_byte_is_server_disconnected(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.drop(), Reply.drop())
    client = make_client(fake.base_url)
    await raises(aiohttp.ServerDisconnectedError, stream(client))
    await raises(
        aiohttp.ServerDisconnectedError,
        client.aio.models.generate_content(model=MODEL, contents="x"),
    )
    assert [r.response_status for r in fake.requests] == [None, None]


# --------------------------------------------------------------------------- disconnects


async def test_hold_then_cancelling_the_reader_records_the_disconnect(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.thinking(draft_at=(0.05,), hold=True))
    received: Chunks = []
    reader = asyncio.create_task(stream(make_client(fake.base_url), into=received))
    (rec,) = await fake.wait_for_requests(1, timeout=5)
    await fake.wait_for(lambda: len(rec.chunk_times) == 3, timeout=5)
    assert rec.disconnected_after is None  # held open, idle

    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    gone = await fake.wait_for(lambda: rec.disconnected_after, timeout=5)
    assert gone >= rec.chunk_times[-1]
    assert len(rec.chunk_times) == 3  # nothing after the drafts


async def test_aclose_leaves_the_connection_open_until_garbage_collection(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.thinking(draft_at=(0.05,), hold=True))
    client = make_client(fake.base_url)
    gc.disable()  # so that only refcounting runs while we look
    try:
        chunks = await client.aio.models.generate_content_stream(
            model=MODEL, contents="x", config=THOUGHTS
        )
        assert isinstance(chunks, AsyncGenerator)  # what the SDK really returns
        async for _ in chunks:
            break
        await chunks.aclose()
        rec = fake.requests[0]
        # A negative needs a window: the fake polls every 50 ms, so 0.5 s is ten looks.
        await raises(
            TimeoutError, fake.wait_for(lambda: rec.disconnected_after is not None, timeout=0.5)
        )
    finally:
        gc.enable()
    gc.collect()  # breaks the response <-> generator cycle; its finalizer releases the socket
    await fake.wait_for(lambda: rec.disconnected_after is not None, timeout=5)


async def test_closing_the_client_closes_an_abandoned_stream(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.thinking(draft_at=(0.05,), hold=True))
    client = make_client(fake.base_url)
    gc.disable()  # prove it is the client's close, not a collection, that ends it
    try:
        chunks = await client.aio.models.generate_content_stream(
            model=MODEL, contents="x", config=THOUGHTS
        )
        assert isinstance(chunks, AsyncGenerator)
        async for _ in chunks:
            break
        await chunks.aclose()
        await client.aio.aclose()
        rec = fake.requests[0]
        await fake.wait_for(lambda: rec.disconnected_after is not None, timeout=5)
    finally:
        gc.enable()


async def test_closing_the_fake_ends_a_held_stream_with_an_error_event(
    make_client: MakeClient,
) -> None:
    async with GeminiFake() as fake:
        fake.script(Reply.thinking(draft_at=(), thoughts=DEFAULT_THOUGHTS[:1], hold=True))
        reader = asyncio.create_task(stream(make_client(fake.base_url)))
        (rec,) = await fake.wait_for_requests(1, timeout=5)
        await fake.wait_for(lambda: rec.chunk_times, timeout=5)
        await fake.close()  # while held open; the context exit closes again, harmlessly
    err = await raises(errors.ServerError, asyncio.wait_for(reader, timeout=5))
    assert isinstance(err, errors.ServerError)
    assert err.code == 503


async def test_hang_on_a_stream_times_out_and_records_the_disconnect(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.hang())
    await raises(TimeoutError, stream(make_client(fake.base_url, timeout_ms=300)))
    rec = fake.requests[0]
    await fake.wait_for(lambda: rec.disconnected_after is not None, timeout=5)
    assert rec.response_status is None


# --------------------------------------------------------------------------- grounding


async def test_search_grounding_metadata_parsed_by_the_sdk(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    client = make_client(fake.base_url)
    chunks = await stream(client, SEARCH, contents="draw the Eiffel tower at night")
    fake.grounding_sources = [("example.org", "https://vertexaisearch.cloud.google.com/x")]
    whole = await client.aio.models.generate_content(model=MODEL, contents="x", config=SEARCH)
    unground = await stream(client, PLAIN)

    assert fake.requests[0].tools == [{"googleSearch": {}}]
    assert fake.requests[0].google_search
    assert chunks[-1].candidates is not None
    meta = chunks[-1].candidates[0].grounding_metadata
    assert meta is not None
    assert meta.grounding_chunks is not None
    assert [(c.web.title, c.web.uri) for c in meta.grounding_chunks if c.web] == list(
        DEFAULT_SOURCES
    )
    assert len(meta.grounding_chunks) == 6
    assert all(
        uri.startswith("https://vertexaisearch.cloud.google.com/grounding-api-redirect/")
        for _, uri in DEFAULT_SOURCES
    )
    assert meta.web_search_queries is not None
    assert "draw the Eiffel tower at night" in meta.web_search_queries
    assert meta.search_entry_point is not None
    assert meta.search_entry_point.rendered_content is not None
    assert meta.search_entry_point.rendered_content.startswith("<style>")
    assert meta.grounding_supports
    assert all(c.candidates and c.candidates[0].grounding_metadata is None for c in chunks[:-1])

    assert whole.candidates is not None
    plain_meta = whole.candidates[0].grounding_metadata
    assert plain_meta is not None
    assert plain_meta.grounding_chunks is not None
    assert plain_meta.grounding_chunks[0].web is not None
    assert plain_meta.grounding_chunks[0].web.title == "example.org"
    assert all(c.candidates and c.candidates[0].grounding_metadata is None for c in unground)


# --------------------------------------------------------------------------- errors, kinds


@pytest.mark.parametrize(
    ("reply", "exc", "code"),
    [
        (Reply.rate_limited("7s"), errors.ClientError, 429),
        (Reply.server_error(503), errors.ServerError, 503),
        (Reply.not_found(), errors.ClientError, 404),
    ],
)
async def test_scripted_errors_come_before_the_stream(
    fake: GeminiFake,
    make_client: MakeClient,
    reply: Reply,
    exc: type[errors.APIError],
    code: int,
) -> None:
    fake.script(reply)
    client = make_client(fake.base_url)
    chunks = await client.aio.models.generate_content_stream(model=MODEL, contents="x")
    assert fake.requests == []  # the SDK sends nothing until the first iteration
    received: Chunks = []
    err = await raises(exc, drain(chunks, received))
    assert received == []
    assert isinstance(err, errors.APIError)
    assert err.code == code
    rec = fake.requests[0]
    assert (rec.action, rec.response_status, rec.chunks) == ("streamGenerateContent", code, [])
    if code == 429:
        assert err.details["error"]["details"][0]["retryDelay"] == "7s"


async def test_protocol_rejections_on_streams(make_client: MakeClient) -> None:
    async with GeminiFake(gemini3=True, expected_api_key="test-key") as fake:
        client = make_client(fake.base_url)
        forged = types.ModelContent(types.Part.from_bytes(data=b"png", mime_type="image/png"))
        history = [types.UserContent("x"), forged, types.UserContent("y")]
        err = await raises(errors.ClientError, stream(client, contents=history))
        assert "content position 2, part position 1." in str(err)

        fake.expected_api_key = "other"
        err = await raises(errors.ClientError, stream(client))
        assert isinstance(err, errors.ClientError)
        assert err.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"

        fake.expected_api_key = None
        url = f"{fake.base_url}/v1beta/models/{MODEL}:countTokens"
        async with aiohttp.ClientSession() as session, session.post(url, json={}) as resp:
            assert resp.status == 404
        assert [r.response_status for r in fake.requests] == [400, 400, 404]


async def test_finish_and_blocked_stream_as_one_chunk(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.script(Reply.finish("IMAGE_SAFETY"), Reply.prompt_blocked())
    client = make_client(fake.base_url)
    (safety,) = await stream(client)
    (blocked,) = await stream(client)
    assert finish_reasons([safety]) == [types.FinishReason.IMAGE_SAFETY]
    assert blocked.prompt_feedback is not None
    assert blocked.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT


async def test_snake_case_latency_and_delay_apply_to_streams(
    fake: GeminiFake, make_client: MakeClient
) -> None:
    fake.response_case = "snake"
    fake.latency = 0.1
    client = make_client(fake.base_url)
    chunks = await stream(client)
    fake.script(Reply.delay(0.1, then=Reply.text_only("late")))
    late = await stream(client)

    rec = fake.requests[0]
    assert "model_version" in rec.chunks[0]
    assert "inline_data" in rec.chunks[-1]["candidates"][0]["content"]["parts"][0]
    assert rec.chunk_times[0] >= 0.1
    assert assemble(chunks)[-1].inline_data == types.Blob(
        data=fake.make_png(0), mime_type="image/png"
    )
    assert "".join(p.text or "" for p in assemble(late)) == "late"
    assert fake.requests[1].chunk_times[0] >= 0.1


def test_thinking_rejects_impossible_timelines() -> None:
    with pytest.raises(ValueError, match="at most 2 drafts"):
        Reply.thinking(draft_at=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="ascending"):
        Reply.thinking(draft_at=(0.2, 0.1))
    with pytest.raises(ValueError, match="before the last draft"):
        Reply.thinking(draft_at=(0.5,), final_at=0.1)
    with pytest.raises(ValueError, match="error Reply"):
        Reply.thinking(error=Reply.text_only("no"))
    assert Reply.thinking(draft_at=(0.5, 1.0)).final_at == 1.0
