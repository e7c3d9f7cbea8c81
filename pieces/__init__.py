"""legato's piece engine: TAKT-compatible workflow files, resolved, validated and evaluated.

Pure code. Nothing here imports the rest of legato, and the only I/O is reading piece
and facet files while loading; everything after that works on the resolved ``Piece``.
"""

from pieces.conditions import ConditionSyntaxError, parse_condition
from pieces.library import BUILTIN_DIR, PieceLibrary, compile_piece
from pieces.loops import LoopTrigger, check_loop_monitors, loop_judge_prompt, trailing_cycles
from pieces.model import LoopMonitor, Movement, OutputContract, Piece, Rule
from pieces.problems import PieceInvalid, PieceNotFound, Problem, ValidationReport
from pieces.prompt import build_prompt
from pieces.reports import extract_reports
from pieces.rules import (
    RuleMatch,
    evaluate_aggregate,
    judge_prompt,
    last_tag,
    match_by_tag,
    needs_judge,
    parse_judge_reply,
    strip_tags,
    unmatched_summary,
)
from pieces.variables import PromptContext, expand

__all__ = [
    "BUILTIN_DIR",
    "ConditionSyntaxError",
    "LoopMonitor",
    "LoopTrigger",
    "Movement",
    "OutputContract",
    "Piece",
    "PieceInvalid",
    "PieceLibrary",
    "PieceNotFound",
    "Problem",
    "PromptContext",
    "Rule",
    "RuleMatch",
    "ValidationReport",
    "build_prompt",
    "check_loop_monitors",
    "compile_piece",
    "evaluate_aggregate",
    "expand",
    "extract_reports",
    "judge_prompt",
    "last_tag",
    "loop_judge_prompt",
    "match_by_tag",
    "needs_judge",
    "parse_condition",
    "parse_judge_reply",
    "strip_tags",
    "trailing_cycles",
    "unmatched_summary",
]
