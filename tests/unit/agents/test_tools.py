"""Workspace confinement and tool behaviour on a real filesystem (no LLM needed)."""

from __future__ import annotations

import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from agents.runtime import TRUNCATED, Toolbox, cap
from agents.tools import REGISTRY, ToolContext, ToolError, ToolLimits
from agents.workspace import SUBDIRS, Workspace, WorkspaceError
from app.agent_schemas import TOOL_NAMES


@pytest.fixture
def ctx(tmp_path) -> ToolContext:
    return ToolContext(workspace=Workspace.open(tmp_path / "ws"), limits=ToolLimits())


def run(ctx, tool, **args):
    return REGISTRY[tool].run(ctx, args)


def test_workspace_layout_and_git(ctx):
    ws = ctx.workspace
    assert all((ws.root / d).is_dir() for d in SUBDIRS)
    run(ctx, "Write", path="output/a.txt", content="hi")
    sha = ws.commit("plan")
    assert sha and ws.log() == ["plan"]
    assert ws.commit("nothing changed") is None


@pytest.mark.parametrize(
    "path", ["../x", "a/../../x", "/etc/passwd", "/tmp", ".git/config", "", "a\x00b"]
)
def test_paths_outside_are_refused(ctx, path):
    with pytest.raises(WorkspaceError):
        ctx.workspace.resolve(path)


def test_symlink_pointing_out_is_refused(ctx, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, ctx.workspace.root / "link.txt")
    os.symlink(tmp_path, ctx.workspace.root / "dirlink")
    for path in ("link.txt", "dirlink/secret.txt"):
        with pytest.raises(ToolError, match="outside"):
            run(ctx, "Read", path=path)
    with pytest.raises(ToolError, match="outside"):
        run(ctx, "Write", path="dirlink/new.txt", content="x")
    assert run(ctx, "Glob", pattern="**/*") == "(no matches)"
    assert run(ctx, "Grep", pattern="secret") == "(no matches)"


def test_absolute_path_inside_is_fine(ctx):
    target = ctx.workspace.root / "input" / "in.txt"
    run(ctx, "Write", path=str(target), content="a\nb\nc\n")
    assert run(ctx, "Read", path="input/in.txt", offset=2, limit=1) == "b"


def test_edit_requires_a_unique_match(ctx):
    run(ctx, "Write", path="f.txt", content="x x")
    with pytest.raises(ToolError, match="occurs 2 times"):
        run(ctx, "Edit", path="f.txt", old_string="x", new_string="y")
    assert "2 occurrence" in run(
        ctx, "Edit", path="f.txt", old_string="x", new_string="y", replace_all=True
    )
    with pytest.raises(ToolError, match="not found"):
        run(ctx, "Edit", path="f.txt", old_string="zzz", new_string="y")


def test_bash_is_off_unless_enabled(ctx):
    with pytest.raises(ToolError, match="disabled"):
        run(ctx, "Bash", command="echo hi")
    ctx.limits = ToolLimits(allow_shell=True, shell_timeout=5)
    assert run(ctx, "Bash", command="pwd").startswith(str(ctx.workspace.root))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://100.64.0.1/",
        "http://192.0.0.8/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://metadata.google.internal/",
        "http://instance-data/",
        "file:///etc/passwd",
        "ftp://example.com/",
    ],
)
def test_webfetch_refuses_private_and_metadata_targets(ctx, url):
    with pytest.raises(ToolError, match=r"refused|only http"):
        run(ctx, "WebFetch", url=url)


def test_webfetch_allow_list_admits_a_loopback_server(ctx):
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        with pytest.raises(ToolError):
            run(ctx, "WebFetch", url=url)
        for allow in ("127.0.0.1", "127.0.0.0/8"):
            ctx.limits = ToolLimits(webfetch_allow=(allow,))
            assert run(ctx, "WebFetch", url=url).endswith("hello")
    finally:
        server.shutdown()


class _Hello(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")


def test_unknown_and_disallowed_tools_are_refused_not_run(ctx):
    box = Toolbox(allowed=["Read", "Teleport"], context=ctx)
    assert box.offered == ["Read"]
    call = {"id": "c1", "function": {"name": "Write", "arguments": '{"path": "x", "content": "y"}'}}
    trace = box.execute(call)
    assert trace.outcome == "refused" and "not allowed" in trace.output
    assert not (ctx.workspace.root / "x").exists()
    bad_args = box.execute({"id": "c2", "function": {"name": "Read", "arguments": "[1]"}})
    assert bad_args.outcome == "error"


def test_output_is_capped_with_a_marker():
    assert cap("abc", 10) == "abc"
    assert cap("x" * 20, 5) == "xxxxx" + TRUNCATED.format(n=15)


def test_the_api_knows_every_tool():
    assert set(TOOL_NAMES) == set(REGISTRY)


def test_git_commit_needs_no_global_identity(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.gitconfig
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    ws = Workspace.open(tmp_path / "w")
    (ws.root / "f").write_text("x")
    assert ws.commit("review")
    out = subprocess.run(
        ["git", "log", "--format=%an"], cwd=ws.root, capture_output=True, text=True
    )
    assert out.stdout.strip() == "legato"


@pytest.mark.timeout(120)  # a backtracking engine would never finish: 2**60 paths
def test_grep_runs_in_linear_time_on_a_catastrophic_pattern(ctx):
    run(ctx, "Write", path="a.txt", content="a" * 60 + "b\n" + "a" * 60 + "\n")
    assert run(ctx, "Grep", pattern="^(a+)+$") == "a.txt:2:" + "a" * 60


@pytest.mark.parametrize(
    ("pattern", "why"),
    [(r"(a)\1", "backreferences"), (r"foo(?=bar)", "lookaround"), ("[", "missing ]")],
)
def test_grep_refuses_what_re2_cannot_compile_with_a_clear_error(ctx, pattern, why):
    run(ctx, "Write", path="a.txt", content="aa foobar\n")
    with pytest.raises(ToolError, match="RE2") as refused:
        run(ctx, "Grep", pattern=pattern)
    assert why in str(refused.value)


def test_grep_refuses_an_overlong_pattern(ctx):
    with pytest.raises(ToolError, match="longer than"):
        run(ctx, "Grep", pattern="a" * 5000)


def test_grep_still_finds_ordinary_patterns(ctx):
    run(ctx, "Write", path="src/x.py", content="def f():\n    return 42\n")
    assert run(ctx, "Grep", pattern=r"return \d+") == "src/x.py:2:    return 42"
    assert run(ctx, "Grep", pattern=r"(?i)DEF F") == "src/x.py:1:def f():"
