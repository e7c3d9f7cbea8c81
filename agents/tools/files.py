"""Read, Write, Edit, Glob, Grep: file tools confined to the job's workspace.

Grep runs the model's regular expression with RE2 (google-re2), which matches in time
linear in the input: a pattern such as `^(a+)+$` cannot stall a worker the way it
stalls a backtracking engine. RE2 has no backreferences or lookaround; such a pattern
is refused with a tool error the model can read and act on.
"""

from __future__ import annotations

from pathlib import Path

import re2

from agents.tools.base import Tool, ToolContext, ToolError, arg_int, arg_str, schema
from agents.workspace import WorkspaceError

_MAX_MATCHES = 200
_MAX_PATTERN_CHARS = 2000
# RE2's memory budget for one compiled pattern (its default); bounds a huge pattern too.
_RE2_MAX_MEM = 8 << 20


def _path(ctx: ToolContext, raw: str) -> Path:
    try:
        return ctx.need_workspace().resolve(raw)
    except WorkspaceError as exc:
        raise ToolError(str(exc)) from None


def _read(ctx: ToolContext, args: dict) -> str:
    path = _path(ctx, arg_str(args, "path"))
    if not path.is_file():
        raise ToolError(f"{arg_str(args, 'path')}: no such file")
    text = path.read_text(errors="replace")
    offset = arg_int(args, "offset", 1) or 1
    limit = arg_int(args, "limit")
    lines = text.splitlines()
    chosen = lines[offset - 1 : (offset - 1 + limit) if limit else None]
    return "\n".join(chosen)


def _write(ctx: ToolContext, args: dict) -> str:
    raw = arg_str(args, "path")
    content = arg_str(args, "content")
    path = _path(ctx, raw)
    if path.is_dir():
        raise ToolError(f"{raw}: is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return f"wrote {len(content.encode())} bytes to {ctx.need_workspace().relative(path)}"


def _edit(ctx: ToolContext, args: dict) -> str:
    raw = arg_str(args, "path")
    old = arg_str(args, "old_string")
    new = arg_str(args, "new_string")
    replace_all = bool(args.get("replace_all", False))
    path = _path(ctx, raw)
    if not path.is_file():
        raise ToolError(f"{raw}: no such file")
    if not old:
        raise ToolError("old_string must not be empty")
    text = path.read_text(errors="replace")
    count = text.count(old)
    if count == 0:
        raise ToolError(f"{raw}: old_string not found")
    if count > 1 and not replace_all:
        raise ToolError(
            f"{raw}: old_string occurs {count} times; make it unique or set replace_all"
        )
    path.write_text(text.replace(old, new) if replace_all else text.replace(old, new, 1))
    return f"replaced {count if replace_all else 1} occurrence(s) in {raw}"


def _visible(ctx: ToolContext, paths) -> list[str]:
    ws = ctx.need_workspace()
    out = []
    for p in paths:
        try:
            real = ws.resolve(str(p))  # drops symlinks leading out, and .git
        except WorkspaceError:
            continue
        if real.is_file():
            out.append(ws.relative(p))
    return sorted(set(out))


def _glob(ctx: ToolContext, args: dict) -> str:
    pattern = arg_str(args, "pattern")
    if pattern.startswith("/") or ".." in Path(pattern).parts:
        raise ToolError("pattern must be relative to the workspace, without '..'")
    base = _path(ctx, arg_str(args, "path", required=False, default="."))
    try:
        found = _visible(ctx, base.glob(pattern))
    except (ValueError, NotImplementedError) as exc:
        raise ToolError(f"bad pattern: {exc}") from None
    return "\n".join(found[:_MAX_MATCHES]) or "(no matches)"


def compile_pattern(pattern: str):
    """The pattern compiled by RE2, or a ToolError saying why it cannot be."""
    if len(pattern) > _MAX_PATTERN_CHARS:
        raise ToolError(f"pattern is longer than {_MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise ToolError(
            f"bad regular expression for RE2 ({reason}); RE2 has no backreferences or "
            "lookaround, rewrite the pattern without them"
        ) from None


def _grep(ctx: ToolContext, args: dict) -> str:
    regex = compile_pattern(arg_str(args, "pattern"))
    base = _path(ctx, arg_str(args, "path", required=False, default="."))
    include = arg_str(args, "glob", required=False, default="**/*")
    ws = ctx.need_workspace()
    files = [base] if base.is_file() else [ws.root / f for f in _visible(ctx, base.glob(include))]
    hits: list[str] = []
    for file in files:
        try:
            lines = file.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for no, line in enumerate(lines, 1):
            if regex.search(line):
                hits.append(f"{ws.relative(file)}:{no}:{line}")
                if len(hits) >= _MAX_MATCHES:
                    return "\n".join(hits) + "\n[more matches not shown]"
    return "\n".join(hits) or "(no matches)"


_PATH = {"type": "string", "description": "path relative to the workspace root"}

TOOLS = [
    Tool(
        "Read",
        "Read a text file from the job's workspace.",
        schema(
            ["path"],
            path=_PATH,
            offset={"type": "integer", "description": "first line, 1-based"},
            limit={"type": "integer", "description": "number of lines"},
        ),
        _read,
    ),
    Tool(
        "Write",
        "Create or overwrite a file in the job's workspace.",
        schema(["path", "content"], path=_PATH, content={"type": "string"}),
        _write,
    ),
    Tool(
        "Edit",
        "Replace old_string with new_string in a workspace file.",
        schema(
            ["path", "old_string", "new_string"],
            path=_PATH,
            old_string={"type": "string"},
            new_string={"type": "string"},
            replace_all={"type": "boolean"},
        ),
        _edit,
    ),
    Tool(
        "Glob",
        "List workspace files matching a glob pattern such as '**/*.md'.",
        schema(["pattern"], pattern={"type": "string"}, path=_PATH),
        _glob,
    ),
    Tool(
        "Grep",
        "Search workspace files for a regular expression; prints path:line:text.",
        schema(
            ["pattern"],
            pattern={"type": "string"},
            path=_PATH,
            glob={"type": "string", "description": "which files, default '**/*'"},
        ),
        _grep,
    ),
]
