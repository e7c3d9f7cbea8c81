"""legato's piece engine: TAKT pieces and workflows, resolved, validated and evaluated.

Pure code. Nothing here imports the rest of legato, and the only I/O is reading piece
and facet files while loading; everything after that works on the resolved ``Piece``:
the prompts of each phase, the movement program (``program.next_step``), the status
judgment, aggregates, loop monitors and the routing decision (``routing.route``).
"""

from pieces.conditions import ConditionSyntaxError, parse_piece_condition
from pieces.library import BUILTIN_DIR, PieceLibrary, compile_piece
from pieces.model import (
    ABORT,
    COMPLETE,
    LoopMonitor,
    Movement,
    OutputContract,
    Piece,
    Rule,
    TeamLeader,
)
from pieces.problems import PieceInvalid, PieceNotFound, Problem, ValidationReport
from pieces.program import Answer, Call, MovementSpec, Outcome, SubResult, next_step
from pieces.prompt import phase1_prompt, system_prompt
from pieces.routing import Route, route
from pieces.variables import PromptContext

__all__ = [
    "ABORT",
    "BUILTIN_DIR",
    "COMPLETE",
    "Answer",
    "Call",
    "ConditionSyntaxError",
    "LoopMonitor",
    "Movement",
    "MovementSpec",
    "Outcome",
    "OutputContract",
    "Piece",
    "PieceInvalid",
    "PieceLibrary",
    "PieceNotFound",
    "Problem",
    "PromptContext",
    "Route",
    "Rule",
    "SubResult",
    "TeamLeader",
    "ValidationReport",
    "compile_piece",
    "next_step",
    "parse_piece_condition",
    "phase1_prompt",
    "route",
    "system_prompt",
]
