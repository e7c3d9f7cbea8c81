"""Phase 2: one call per report file, continuing the Phase 1 conversation without tools.

The model answers with the report's content and legato writes it. A first answer that
is empty is retried once in a fresh conversation that is shown the Phase 1 answer as
"Previous Work Context" (TAKT's retry). Report file names must stay inside the report
directory.
"""

from __future__ import annotations

import posixpath

from pieces.model import Movement, OutputContract, Piece
from pieces.variables import PromptContext, replace_placeholders


def safe_report_name(name: str) -> bool:
    """True when ``name`` is a relative path that stays inside the report directory."""
    if not name or "\0" in name or "\\" in name or name.startswith("/"):
        return False
    normal = posixpath.normpath(name)
    return not (normal == "." or normal.startswith("../") or normal == "..")


def _contract_text(
    piece: Piece, movement: Movement, text: str, report_dir: str, movement_iteration: int
) -> str:
    # TAKT fills a contract's placeholders with an empty task and iteration 0.
    ctx = PromptContext(
        task="", iteration=0, movement_iteration=movement_iteration, report_dir=report_dir
    )
    return replace_placeholders(
        text.rstrip(),
        ctx,
        max_movements=0,
        pass_previous_response=movement.pass_previous_response,
        dialect=piece.dialect,
    )


def phase2_prompt(
    piece: Piece,
    movement: Movement,
    contract: OutputContract,
    *,
    working_dir: str,
    report_dir: str,
    movement_iteration: int,
    task: str | None = None,
    previous_work: str | None = None,
    diagnostic: str | None = None,
) -> str:
    """The prompt for one report file; ``previous_work`` is given only on the retry, and
    ``diagnostic`` when a completion_retry episode ended short of complete."""
    piece_word, step = piece.words
    out = [
        "## Execution Context",
        f"- Working Directory: {working_dir}",
        "",
        "## Execution Rules",
        "- **Do not run `git commit`.** legato commits the workspace itself.",
        "- **Do not `cd` in shell commands.**",
        "- **Do not change project files.** Answer with the report content only.",
        "- **Read only the report files listed below** from the report directory.",
        "This section is metadata; answer in the language of the rest of the prompt.",
        "",
        f"## {piece_word.capitalize()} Context",
        f"- Report Directory: {report_dir.rstrip('/')}/",
        f"- Report File: {report_dir.rstrip('/')}/{contract.name}",
    ]
    if task and piece.dialect == "workflow":
        out += ["", "## Original Request", task]
    if previous_work and previous_work.strip():
        out += [
            "",
            "## Previous Work Context",
            f"Your answer from Phase 1 (the work of this {step}); write the report from it:",
            "",
            previous_work,
        ]
    if diagnostic:
        out += [
            "",
            "## Completion Retry Diagnostic",
            "This diagnostic is context for this report only. Do not turn it into a finding "
            "or a status, and do not present it as part of the work's answer:",
            "",
            diagnostic,
        ]
    out += [
        "",
        "## Instructions",
        "Write the report of the work you have just finished. **No tools are available in "
        "this phase: reply with the report itself, as text.**",
        "**Reply with the report content only: no status tags, no commentary.**",
    ]
    if contract.order:
        out += ["", _contract_text(piece, movement, contract.order, report_dir, movement_iteration)]
    if contract.format:
        out += [
            "",
            _contract_text(piece, movement, contract.format, report_dir, movement_iteration),
        ]
    return "\n".join(out) + "\n"


def versioned_name(name: str, stamp: str, sequence: int) -> str:
    """TAKT 0.31's copy-aside name for an overwritten report: ``<name>.<stamp>[.<seq>]``."""
    return f"{name}.{stamp}" + (f".{sequence}" if sequence else "")
