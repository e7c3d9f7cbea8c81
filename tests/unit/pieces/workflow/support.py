"""A small v0.60 library the catalogue and loader tests build their workflows in."""

from __future__ import annotations

from pathlib import Path

from pieces import PieceLibrary
from pieces.problems import ValidationReport

FILES = {
    "facets/personas/coder.md": "You write code.",
    "facets/personas/judge.md": "You decide.",
    "facets/policies/tidy.md": "Keep it tidy.",
    "facets/policies/safe.md": "Be safe.",
    "facets/knowledge/domain.md": "Domain notes.",
    "facets/instructions/build.md": "Build {task}.\n\n{{include:instructions/shared-tail}}",
    "facets/instructions/check.md": "Check the build.",
    "facets/partials/instructions/shared-tail.md": "Report what you did.",
    "facets/output-contracts/plan.md": "# Plan\n- steps",
    "provider-options/look.yaml": "claude:\n  allowed_tools: [Read, Grep]\n",
    "provider-options/change.yaml": "claude:\n  allowed_tools: [Read, Grep, Edit, Write]\n",
    "provider-options/net.yaml": "codex:\n  network_access: true\n",
    "workflows/rules/house.md": "House rule: be brief.",
    "facet-pools/areas.yaml": (
        "candidates:\n"
        "  - {id: tidy, description: Tidiness matters, policy: tidy}\n"
        "  - {id: domain, description: Domain facts matter, knowledge: domain}\n"
    ),
    "companions/watcher.yaml": (
        "name: watcher\ndescription: Watches.\npersona: judge\npolicy: tidy\ninstruction: check\n"
    ),
    "companions/referee.yaml": "name: referee\ndescription: Decides.\ninstruction: check\n",
    "schemas/verdict.json": '{"type": "object", "properties": {"ok": {"type": "boolean"}}}',
    "steps/builder.yaml": (
        "params:\n"
        "  extra_policy: {type: 'facet_ref[]', facet_kind: policy}\n"
        "  how: {type: facet_ref, facet_kind: instruction}\n"
        "persona: coder\n"
        "policy: [tidy, {$param: extra_policy}]\n"
        "instruction: {$param: how}\n"
    ),
    "steps/pair.yaml": (
        "parallel:\n"
        "  - {name: left, persona: judge}\n"
        "  - {name: right, uses: builder, with: {extra_policy: [safe], how: check}}\n"
    ),
    "workflows/callee.yaml": (
        "name: callee\n"
        "subworkflow:\n"
        "  callable: true\n"
        "  returns: [redo]\n"
        "  params:\n"
        "    how: {type: facet_ref, facet_kind: instruction, default: build}\n"
        "steps:\n"
        "  - name: work\n"
        "    instruction: {$param: how}\n"
        "    rules:\n"
        "      - {condition: done, next: COMPLETE}\n"
        "      - {condition: again, return: redo}\n"
    ),
}


def make_library(root: Path, extra: dict[str, str] | None = None) -> Path:
    for rel, text in {**FILES, **(extra or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def validate(root: Path, text: str, name: str = "t", **extra: str) -> ValidationReport:
    make_library(root, {f"workflows/{name}.yaml": text, **extra})
    return PieceLibrary([root]).validate_file(root / "workflows" / f"{name}.yaml")
