"""Reports taken from agent output."""

from __future__ import annotations

from pieces import Movement, OutputContract, extract_reports


def _mv(*contracts: OutputContract) -> Movement:
    return Movement(name="m", output_contracts=list(contracts))


def test_blocks_by_name_and_label() -> None:
    mv = _mv(OutputContract(name="01-scope.md", label="Scope"), OutputContract(name="02-d.md"))
    output = (
        "Intro\n"
        '<report name="01-scope.md">\n# Scope\nsmall\n</report>\n'
        "<report name='scope'>\n# Scope v2\n</report>\n"
        '<report name="02-d.md">\nDecisions\n</report>\n'
        '<report name="unknown.md">\nignored\n</report>\n'
        "[STEP:0]"
    )
    assert extract_reports(mv, output) == {"01-scope.md": "# Scope v2", "02-d.md": "Decisions"}


def test_single_contract_takes_the_whole_reply_without_tags() -> None:
    mv = _mv(OutputContract(name="plan.md"))
    assert extract_reports(mv, "# Plan\n1. do it\n\n[STEP:0]") == {"plan.md": "# Plan\n1. do it"}


def test_several_contracts_need_blocks() -> None:
    mv = _mv(OutputContract(name="a.md"), OutputContract(name="b.md"))
    assert extract_reports(mv, "plain reply [STEP:0]") == {}
    partial = extract_reports(mv, '<report name="b.md">only b</report>')
    assert partial == {"b.md": "only b"}


def test_nothing_to_extract() -> None:
    assert extract_reports(_mv(), "<report name='x'>y</report>") == {}
    assert extract_reports(_mv(OutputContract(name="a.md")), "") == {}
    assert extract_reports(_mv(OutputContract(name="a.md")), "[STEP:0]") == {}
