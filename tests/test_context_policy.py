"""The request stays bounded however long a lineage grows."""

from __future__ import annotations

from pathlib import Path

from bot.app import open_engine
from bot.lineage import ContextBudget, ImageRef, Part, Role, Turn, TurnStatus, plan_context
from tests.conftest import RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake


def _turn(turn_id: int, role: Role, *parts: Part) -> Turn:
    return Turn(turn_id, 1, turn_id - 1 or None, role, "u", TurnStatus.OK, parts)


def _img(name: str, size: int = 100) -> ImageRef:
    return ImageRef(name, "image/png", size)


def test_short_path_is_sent_as_it_is() -> None:
    path = [
        _turn(1, Role.USER, Part(image=_img("root")), Part(text="blue")),
        _turn(2, Role.MODEL, Part(image=_img("r1"), raw="{}")),
    ]
    plan = plan_context(path, [Part(text="hat")], ContextBudget(max_images=3, max_bytes=10_000))
    assert not plan.rebased
    assert [t.role for t in plan.turns] == [Role.USER, Role.MODEL, Role.USER]
    assert plan.turns[1].parts == path[1].parts  # model turn untouched


def test_rebase_keeps_new_latest_and_root_images_in_budget() -> None:
    path = [_turn(1, Role.USER, Part(image=_img("root")), Part(text="edit 1"))]
    for n in range(2, 12):
        role = Role.MODEL if n % 2 == 0 else Role.USER
        part = Part(image=_img(f"r{n}")) if role is Role.MODEL else Part(text=f"edit {n}")
        path.append(_turn(n, role, part))
    new = [Part(image=_img("new")), Part(text="combine")]
    plan = plan_context(path, new, ContextBudget(max_images=3, max_bytes=10_000))
    assert plan.rebased
    (turn,) = plan.turns
    assert turn.role is Role.USER
    assert [i.sha256 for i in plan.images] == ["root", "r10", "new"]
    summary = turn.parts[2].text or ""
    assert "edit 1" in summary and "edit 9" in summary
    assert summary.endswith("Now apply this edit to the current version:")
    assert turn.parts[-2].image == _img("new") and turn.parts[-1].text == "combine"


def test_rebase_keeps_the_new_turn_in_order_so_labels_stay_with_their_images() -> None:
    path = [_turn(1, Role.USER, Part(image=_img("root")), Part(text="edit 1"))]
    path.append(_turn(2, Role.MODEL, Part(image=_img("r2"))))
    new = [
        Part(text="Reference #hero:"),
        Part(image=_img("hero")),
        Part(text="red cape"),
        Part(text="#hero flies"),
    ]
    plan = plan_context(path, new, ContextBudget(max_images=2, max_bytes=10_000))
    assert plan.rebased
    (turn,) = plan.turns
    assert [p.image.sha256 if p.image else p.text for p in turn.parts[-4:]] == [
        "Reference #hero:",
        "hero",
        "red cape",
        "#hero flies",
    ]
    assert [i.sha256 for i in plan.images] == ["r2", "hero"]


def test_rebase_drops_references_before_the_latest_when_bytes_are_tight() -> None:
    path = [
        _turn(1, Role.USER, Part(image=_img("root", 600)), Part(text="a")),
        _turn(2, Role.MODEL, Part(image=_img("r2", 600))),
    ]
    plan = plan_context(path, [Part(text="b")], ContextBudget(max_images=5, max_bytes=1000))
    assert plan.rebased
    assert [i.sha256 for i in plan.images] == ["r2"]


async def test_thirty_turn_lineage_stays_within_model_limits(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    settings = make_settings(tmp_path / "data", gemini, context_budget_mb=1)
    root = photo((1, 2, 3), (320, 240))
    async with open_engine(settings) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("turn 1", root), outbox)
        for n in range(2, 31):
            await engine.handle(request(f"turn {n}", reply_to=outbox.posted[-1]), outbox)
    assert len(gemini.requests) == 30
    budget = 1024 * 1024
    sizes = []
    for n, req in enumerate(gemini.requests, start=1):
        images = req.images
        assert len(images) <= 3, f"request {n} carries {len(images)} images"
        assert sum(map(len, images)) <= budget
        if n > 1:
            latest = gemini.requests[n - 2].result_image
            assert latest in images, f"request {n} lacks the latest result"
            assert root in images, f"request {n} lacks the root image"
        sizes.append(len(req.raw.__repr__()))
    # Flat once rebasing started: the last request is no bigger than the third.
    assert sizes[-1] <= sizes[2] * 1.2
