"""Untrusted piece text: duplicate keys, alias bombs, self-referencing aliases, deep nesting."""

from __future__ import annotations

from pathlib import Path

import pytest

from pieces import PieceLibrary
from pieces.yamlio import MAX_DEPTH


def _report(text: str):
    return PieceLibrary.builtin().validate_text(text)


def test_shared_tool_lists_through_aliases_are_fine() -> None:
    text = """\
name: x
movements:
  - name: a
    allowed_tools: &ro [Read, Grep]
    rules: [{condition: ok, next: b}]
  - name: b
    allowed_tools: *ro
    rules: [{condition: ok, next: COMPLETE}]
"""
    piece, report = PieceLibrary.builtin().compile_text(text)
    assert report.problems == []
    assert piece.movements[1].allowed_tools == ["Read", "Grep"]


def test_duplicate_keys_are_warned_about() -> None:
    text = """\
name: x
movements:
  - name: a
    rules: [{condition: ok, next: COMPLETE}]
    rules: [{condition: other, next: COMPLETE}]
"""
    report = _report(text)
    assert [str(p) for p in report.warnings] == [
        'line 5, column 5: duplicate key "rules" (the last one wins)'
    ]
    assert report.ok


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("name: bomb\nmovements: *a8")
    report = _report("\n".join(lines) + "\n")
    assert [str(p) for p in report.errors] == ["the piece expands to more than 50000 YAML nodes"]


def test_recursive_alias_is_refused() -> None:
    report = _report("name: x\nmovements: &m\n  - *m\n")
    assert [str(p) for p in report.errors] == ["recursive YAML aliases are not supported"]


def _flow(depth: int) -> str:
    return "name: x\nmovements: " + "[" * depth + "]" * depth + "\n"


def _block(depth: int) -> str:
    lines = ["name: x", "movements:"]
    lines += [" " * (2 * level) + "- k:" for level in range(1, depth // 2)]
    return "\n".join(lines) + "\n"


def _aliases(depth: int) -> str:
    # Each alias nests the previous one a level deeper: shallow text, deep data.
    lines = ["a0: &a0 [x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, depth)]
    return "\n".join(lines) + f"\nname: x\nmovements: *a{depth - 1}\n"


@pytest.mark.parametrize(
    "text",
    [_flow(MAX_DEPTH + 5), _flow(900), _flow(5000), _block(2 * MAX_DEPTH + 20), _aliases(150)],
    ids=["just-over-ours", "under-libyaml-limit", "over-libyaml-limit", "block", "aliases"],
)
def test_deep_nesting_is_refused(text: str) -> None:
    # Whatever the YAML library says about nesting (or whether it notices at all), the
    # piece is refused with one clear error that says it is nested too deeply.
    report = _report(text)
    assert not report.ok
    assert len(report.errors) == 1, report.errors
    assert "nested too deeply" in str(report.errors[0])


def test_nesting_up_to_the_limit_is_not_a_nesting_error() -> None:
    report = _report(_flow(MAX_DEPTH - 5))
    assert not any("nested" in str(p) for p in report.problems)


def test_a_syntax_error_stays_a_syntax_error() -> None:
    report = _report("name: x\nmovements: [[[a]]\n")
    [error] = report.errors
    assert str(error).startswith("line 3, column 1: invalid YAML: ")
    assert "nested" not in str(error)


def test_name_differing_from_file_name(tmp_path: Path, make_lib) -> None:
    piece = "name: q\nmovements:\n  - name: a\n    rules: [{condition: ok, next: COMPLETE}]\n"
    root = make_lib({"pieces/p.yaml": piece})
    report = PieceLibrary([root]).validate_file(root / "pieces" / "p.yaml")
    assert [str(p) for p in report.warnings] == [
        'name: "q" differs from the file name "p" (the piece is found by its file name)',
    ]


def test_oversized_piece_file(make_lib) -> None:
    root = make_lib({"pieces/big.yaml": "name: big\n# " + "x" * 1_100_000 + "\n"})
    report = PieceLibrary([root]).validate_file(root / "pieces" / "big.yaml")
    assert [str(p) for p in report.errors] == ["piece file is larger than 1024 KiB"]


def test_text_the_reader_refuses_is_a_syntax_error() -> None:
    # Control characters make PyYAML's pure-Python reader fail in its constructor.
    report = _report("name: x\nmovements: [\x17]\n")
    [error] = report.errors
    assert "invalid YAML" in str(error)
