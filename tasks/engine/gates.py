"""Running a workflow's command quality gate in the job's workspace (pieces.gates).

Under the Bash tool's rules: refused unless ``TOOLS_ALLOW_SHELL`` is on; run with
``bash -c`` in the workspace (or a ``cwd`` inside it), with only PATH and HOME set, in
a process group of its own that is killed after the gate's ``timeout_ms`` or
``SHELL_TIMEOUT``, whichever is shorter, or once its output passes 64 KiB (TAKT's
limit). The gate passes on exit status 0. Its output goes to a log file under the
workspace's ``logs/quality-gates/``; the failure report names that file and does not
quote the output (TAKT's report), so the agent reads the log when it needs to.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path

from agents.tools.shell import SHELL_OFF, run_confined
from agents.workspace import Workspace, WorkspaceError
from app.config import Settings
from pieces import Answer, Call
from pieces.gates import failure_report

log = logging.getLogger(__name__)
OUTPUT_LIMIT = 64 * 1024
LOG_DIR = "logs/quality-gates"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:40] or "gate"


def _write_log(root: Path, run_id: uuid.UUID, name: str, output: bytes) -> str:
    if not output:
        return "not created (no output)"
    folder = root / LOG_DIR
    target = folder / f"{run_id.hex[:8]}-{uuid.uuid4().hex[:8]}-{_slug(name)}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(output)
    except OSError as exc:
        log.warning("could not write the quality gate log %s", target, exc_info=True)
        return f"unavailable: {exc.strerror or exc}"
    return str(target.relative_to(root))


def run_gate(claimed, settings: Settings, call: Call) -> Answer:
    local = call.local or {}
    name, command = str(local.get("name") or ""), str(local.get("command") or "")
    step = claimed.piece.words[1]
    if not settings.tools_allow_shell:
        reason = (
            f'{step.capitalize()} "{claimed.run.name}" cannot run its quality gate "{name}": '
            f"{SHELL_OFF}"
        )
        return Answer(
            kind=call.kind,
            name=call.name,
            status="error",
            content=reason,
            error=reason,
            structured={"refused": True},
        )
    ws = Workspace.open(claimed.workspace, git=claimed.job.workspace is None)
    where = str(local.get("cwd") or ".")
    try:
        cwd = ws.resolve(where)
    except WorkspaceError as exc:
        report = failure_report(name, command, where, f"Cwd refused: {exc}", "not created")
        return Answer(kind=call.kind, name=call.name, status="error", content=report, structured={})
    timeout_ms = int(local.get("timeout_ms") or 300_000)
    timeout = min(timeout_ms / 1000, settings.shell_timeout)
    ran = run_confined(command, cwd, ws.root, timeout, OUTPUT_LIMIT)
    data = {
        "exit_code": ran.exit_code,
        "timed_out": ran.timed_out,
        "overflow": ran.overflow,
        "timeout_ms": int(timeout * 1000),
    }
    logged = _write_log(ws.root, claimed.run.id, name, ran.output)
    data["log"] = logged
    if ran.exit_code == 0:
        return Answer(
            kind=call.kind,
            name=call.name,
            content=f"Quality gate passed: {name}",
            structured=data,
        )
    if ran.timed_out:
        why = f"Timeout: {int(timeout * 1000)}ms"
    elif ran.overflow:
        why = f"Output limit exceeded: {OUTPUT_LIMIT} bytes"
    else:
        why = f"Exit code: {ran.exit_code}"
    report = failure_report(name, command, ws.relative(cwd), why, logged)
    return Answer(kind=call.kind, name=call.name, status="error", content=report, structured=data)
