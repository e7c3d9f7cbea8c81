"""Untrusted piece text: duplicate keys, alias bombs, self-referencing aliases, deep nesting."""

from __future__ import annotations

from pathlib import Path

from pieces import PieceLibrary


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


def test_deep_nesting_is_refused() -> None:
    report = _report("name: x\nmovements: " + "[" * 5000 + "]" * 5000 + "\n")
    assert [str(p) for p in report.errors] == ["the piece is nested too deeply"]


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
