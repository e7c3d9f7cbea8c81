"""Search order, facet resolution by kind and path, and every way out of a base folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pieces import BUILTIN_DIR, PieceInvalid, PieceLibrary, PieceNotFound
from pieces.facets import PathEscape, inside, is_path

PIECE = """\
name: {name}
movements:
  - name: only
    persona: {persona}
    rules:
      - condition: Done
        next: COMPLETE
"""


def _piece(name: str = "p", persona: str = "helper") -> str:
    return PIECE.format(name=name, persona=persona)


def test_what_counts_as_a_path() -> None:
    # TAKT's test: ./, ../, /, ~ prefixes, or a .md ending; everything else is a name
    # first and, when no facet has that name, literal text.
    assert is_path("planner.md")
    assert is_path("../facets/personas/planner.md")
    assert is_path("/etc/passwd")
    assert is_path("~/.ssh/id_rsa")
    assert not is_path("planner")
    assert not is_path("personas/planner")
    assert not is_path("You are a helpful reviewer.")


def test_search_order_owner_then_path_then_builtin(tmp_path: Path, make_lib) -> None:
    data = tmp_path / "data"
    owner = make_lib(
        {"pieces/shared.yaml": _piece("owner-shared", "assistant")}, data / "users" / "ann"
    )
    first = make_lib(
        {
            "pieces/shared.yaml": _piece("path-shared", "assistant"),
            "pieces/demo.yaml": _piece("path-demo", "assistant"),
        },
        tmp_path / "first",
    )
    second = make_lib({"pieces/extra.yaml": _piece("extra", "assistant")}, tmp_path / "second")
    lib = PieceLibrary.for_owner(owner="ann", data_dir=data, pieces_path=[first, second])
    assert lib.roots == [owner, first, second, BUILTIN_DIR]
    names = lib.names()
    assert names[:3] == ["shared", "demo", "extra"]
    assert {"general", "default", "review", "research", "reflection"} <= set(names)
    assert len(names) == len(set(names))
    assert lib.load("shared").name == "owner-shared"
    assert lib.load("demo").name == "path-demo"  # a PIECES_PATH entry shadows the built-in


def test_pieces_path_as_colon_string(tmp_path: Path, make_lib) -> None:
    a = make_lib({"pieces/a.yaml": _piece("a", "assistant")}, tmp_path / "a")
    b = make_lib({"pieces/b.yaml": _piece("b", "assistant")}, tmp_path / "b")
    lib = PieceLibrary.for_owner(data_dir=tmp_path / "nodata", pieces_path=f"{a}::{b}")
    assert lib.roots[1:3] == [a, b]
    assert lib.names()[:2] == ["a", "b"]


def test_owner_name_cannot_walk_out_of_data_dir(tmp_path: Path) -> None:
    for owner in ("../evil", "a/b", "..", ".", "", "a\\b", "nul\0"):
        with pytest.raises(ValueError):
            PieceLibrary.for_owner(owner=owner, data_dir=tmp_path)


def test_not_found_suggests(builtin: PieceLibrary) -> None:
    with pytest.raises(PieceNotFound) as err:
        builtin.load("defualt")
    assert str(err.value) == 'piece "defualt" not found (did you mean "default"?)'
    for bad in ("../builtin/pieces/demo", "/etc/passwd", "demo.yaml/..", ""):
        with pytest.raises(PieceNotFound):
            builtin.load(bad)


def test_invalid_piece_raises_with_report(make_lib) -> None:
    bad = "name: bad\nmovements:\n  - name: a\n    rules:\n      - {condition: x, next: b}\n"
    root = make_lib({"pieces/bad.yaml": bad})
    with pytest.raises(PieceInvalid) as err:
        PieceLibrary([root]).load("bad")
    assert [str(p) for p in err.value.report.errors] == [
        'movements[0].rules[0].next: unknown movement "b"'
    ]
    assert 'piece "bad" is invalid' in str(err.value)


def test_a_name_that_resolves_nowhere_is_literal_text(make_lib) -> None:
    # TAKT uses an unresolved facet reference as the text itself (`format: report`).
    root = make_lib({"pieces/p.yaml": _piece(persona="nobody-here")})
    piece = PieceLibrary([root]).load("p")
    assert piece.movements[0].persona == "nobody-here"
    assert not piece.movements[0].persona_file
    assert piece.warnings == []


def test_facet_by_name_own_library_first(tmp_path: Path, make_lib) -> None:
    own = make_lib(
        {"pieces/p.yaml": _piece(), "facets/personas/helper.md": "OWN HELPER"}, tmp_path / "own"
    )
    other = make_lib({"facets/personas/helper.md": "OTHER HELPER"}, tmp_path / "other")
    piece = PieceLibrary([other, own]).load_file(own / "pieces" / "p.yaml")
    assert piece.movements[0].persona == "OWN HELPER"


def test_facet_by_name_falls_back_along_the_path(tmp_path: Path, make_lib) -> None:
    own = make_lib({"pieces/p.yaml": _piece(persona="planner")}, tmp_path / "own")
    piece = PieceLibrary([own, BUILTIN_DIR]).load("p")
    assert piece.movements[0].persona.startswith("You are a planner.")


def test_section_map_and_relative_paths(make_lib) -> None:
    text = """\
name: p
personas:
  lead: ../shared/lead.md
policies:
  inline-rules: |
    Rule one.
    Rule two.
movements:
  - name: only
    persona: lead
    policy: [inline-rules, ../shared/policy.md]
    knowledge: ./local.md
    instruction: Just do it well.
"""
    root = make_lib(
        {
            "pieces/p.yaml": text,
            "pieces/local.md": "LOCAL KNOWLEDGE",
            "shared/lead.md": "LEAD PERSONA\n",
            "shared/policy.md": "SHARED POLICY",
        }
    )
    mv = PieceLibrary([root]).load("p").movements[0]
    assert mv.persona == "LEAD PERSONA"
    assert mv.policies == ["Rule one.\nRule two.", "SHARED POLICY"]
    assert mv.knowledge == ["LOCAL KNOWLEDGE"]
    assert mv.instruction == "Just do it well."


def test_loose_piece_file_is_its_own_library(tmp_path: Path) -> None:
    (tmp_path / "facets" / "personas").mkdir(parents=True)
    (tmp_path / "facets" / "personas" / "helper.md").write_text("LOOSE HELPER")
    (tmp_path / "loose.yaml").write_text(_piece("loose"))
    piece = PieceLibrary([]).load_file(tmp_path / "loose.yaml")
    assert piece.movements[0].persona == "LOOSE HELPER"


def _errors(lib: PieceLibrary, path: Path) -> list[str]:
    return [str(p) for p in lib.validate_file(path).errors]


@pytest.mark.parametrize(
    "ref",
    ["../../outside.md", "../../../../../../../../etc/hostname", "/etc/hostname", "~/x.md"],
)
def test_relative_paths_cannot_escape(tmp_path: Path, make_lib, ref: str) -> None:
    (tmp_path / "outside.md").write_text("SECRET")
    root = make_lib({"pieces/p.yaml": _piece(persona=ref)})
    assert _errors(PieceLibrary([root]), root / "pieces" / "p.yaml") == [
        f'movements[0].persona: path "{ref}" escapes its base folder '
        + (
            "(use a relative path)"
            if ref.startswith(("/", "~"))
            else "(paths must stay inside the library)"
        )
    ]


def test_section_map_path_cannot_escape(tmp_path: Path, make_lib) -> None:
    (tmp_path / "outside.md").write_text("SECRET")
    text = _piece(persona="lead") + "personas:\n  lead: ../../outside.md\n"
    root = make_lib({"pieces/p.yaml": text})
    assert _errors(PieceLibrary([root]), root / "pieces" / "p.yaml") == [
        'personas.lead: path "../../outside.md" escapes its base folder '
        "(paths must stay inside the library)"
    ]


def test_symlinked_path_cannot_escape(tmp_path: Path, make_lib) -> None:
    (tmp_path / "outside.md").write_text("SECRET")
    root = make_lib({"pieces/p.yaml": _piece(persona="../facets/personas/link.md")})
    (root / "facets" / "personas").mkdir(parents=True)
    os.symlink(tmp_path / "outside.md", root / "facets" / "personas" / "link.md")
    errors = _errors(PieceLibrary([root]), root / "pieces" / "p.yaml")
    assert errors == [
        'movements[0].persona: path "../facets/personas/link.md" escapes its base folder '
        "(paths must stay inside the library)"
    ]


def test_symlinked_folder_cannot_escape(tmp_path: Path, make_lib) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "helper.md").write_text("SECRET")
    root = make_lib({"pieces/p.yaml": _piece(persona="helper")})
    (root / "facets").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "facets" / "personas")
    errors = _errors(PieceLibrary([root]), root / "pieces" / "p.yaml")
    assert errors == ['movements[0].persona: persona "helper" escapes its library folder']


def test_symlink_inside_the_library_is_fine(make_lib) -> None:
    root = make_lib({"pieces/p.yaml": _piece(persona="helper"), "shared/h.md": "SHARED"})
    (root / "facets" / "personas").mkdir(parents=True)
    os.symlink(root / "shared" / "h.md", root / "facets" / "personas" / "helper.md")
    assert PieceLibrary([root]).load("p").movements[0].persona == "SHARED"


def test_symlinked_piece_outside_library_is_not_listed(tmp_path: Path, make_lib) -> None:
    (tmp_path / "foreign.yaml").write_text(_piece("foreign"))
    root = make_lib({"pieces/p.yaml": _piece()})
    os.symlink(tmp_path / "foreign.yaml", root / "pieces" / "foreign.yaml")
    lib = PieceLibrary([root])
    assert lib.names() == ["p"]
    with pytest.raises(PieceNotFound):
        lib.load("foreign")


def test_text_without_location_reads_no_paths(builtin: PieceLibrary) -> None:
    # A path with nothing to be relative to names no file: TAKT then uses the text itself.
    piece, report = builtin.compile_text(_piece(persona="../facets/personas/planner.md"))
    assert report.ok
    assert [str(p) for p in report.warnings] == [
        'movements[0].persona: file "../facets/personas/planner.md" not found; the text '
        "itself is used, as TAKT does (paths are relative to the piece file)"
    ]
    assert piece.movements[0].persona == "../facets/personas/planner.md"
    planner, _ = builtin.compile_text(_piece(persona="planner"))
    assert planner.movements[0].persona_file


def test_text_with_base_dir_resolves_paths(builtin: PieceLibrary) -> None:
    base = BUILTIN_DIR / "pieces"
    piece, report = builtin.compile_text(_piece(persona="../facets/personas/coder.md"), base)
    assert report.ok and piece.movements[0].persona.startswith("You are a senior")


@given(
    st.lists(
        st.sampled_from(["..", ".", "a", "b", "facets", "/", "~"]), min_size=1, max_size=8
    ).map(lambda parts: "/".join(parts))
)
def test_inside_never_returns_a_path_outside_base(rel: str) -> None:
    base = BUILTIN_DIR
    try:
        target = inside(base, rel, start=base / "pieces")
    except PathEscape:
        return
    assert target == base.resolve() or target.is_relative_to(base.resolve())


def test_unreadable_and_oversized_files(tmp_path: Path, make_lib) -> None:
    root = make_lib({"pieces/p.yaml": _piece(persona="big.md"), "pieces/big.md": "x" * 300_000})
    assert _errors(PieceLibrary([root]), root / "pieces" / "p.yaml") == [
        "movements[0].persona: facet file is larger than 256 KiB"
    ]
    missing = PieceLibrary([root]).validate_file(tmp_path / "nope.yaml")
    assert [str(p) for p in missing.errors] == ["cannot read piece file: FileNotFoundError"]


def test_ordinary_owner_names_are_accepted(tmp_path: Path) -> None:
    for owner in ("local", "ann@example.com", "user+tag", "Team Blue", "a.b"):
        lib = PieceLibrary.for_owner(owner=owner, data_dir=tmp_path)
        assert lib.roots[0] == tmp_path / "users" / owner


@given(
    st.lists(st.sets(st.sampled_from(["alpha", "beta", "gamma"])), min_size=1, max_size=3),
    st.sampled_from(["alpha", "beta", "gamma"]),
)
def test_facet_name_resolves_to_the_first_library_holding_it(layout, wanted) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        roots = []
        for i, names in enumerate(layout):
            root = Path(tmp) / f"lib{i}"
            (root / "facets" / "personas").mkdir(parents=True)
            for name in names:
                (root / "facets" / "personas" / f"{name}.md").write_text(f"{name} from lib{i}")
            roots.append(root)
        piece, report = PieceLibrary(roots).compile_text(_piece(persona=wanted))
        holders = [i for i, names in enumerate(layout) if wanted in names]
        assert report.ok
        if holders:
            assert piece.movements[0].persona == f"{wanted} from lib{holders[0]}"
        else:
            assert piece.movements[0].persona == wanted  # literal text, as in TAKT
