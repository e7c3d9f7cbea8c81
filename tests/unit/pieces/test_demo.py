"""The built-in demo piece: the contract the movement chain is written against."""

from pathlib import Path

from pieces import (
    Piece,
    PieceLibrary,
    PromptContext,
    build_prompt,
    check_loop_monitors,
    match_by_tag,
    needs_judge,
)


def test_demo_completes_when_every_answer_is_step_0(tmp_path: Path) -> None:
    lib = PieceLibrary.for_owner(owner="local", data_dir=tmp_path, pieces_path=[])
    piece = lib.load("demo")
    assert piece.warnings == []
    assert piece.max_movements == 6
    snapshot = Piece.model_validate(piece.model_dump(mode="json"))
    current, path = snapshot.initial_movement, []
    for iteration in range(1, snapshot.max_movements + 1):
        movement = snapshot.movement(current)
        path.append(current)
        prompt = build_prompt(
            snapshot, movement, PromptContext(task="t", iteration=iteration, movement_iteration=1)
        )
        assert "[STEP:0] = " in prompt
        output = "some text\n[STEP:0]"
        assert not needs_judge(movement, output)
        assert check_loop_monitors(snapshot, path) is None
        current = match_by_tag(movement, output).next
        if current == "COMPLETE":
            break
    assert path == ["draft", "review"]
    assert current == "COMPLETE"


def test_demo_rules_are_as_documented(builtin: PieceLibrary) -> None:
    piece = builtin.load("demo")
    assert [m.name for m in piece.movements] == ["draft", "review"]
    draft, review = piece.movements
    assert [(r.condition, r.next) for r in draft.rules] == [("Draft is ready", "review")]
    assert [(r.condition, r.next) for r in review.rules] == [
        ("Approved", "COMPLETE"),
        ("Needs changes", "draft"),
    ]
