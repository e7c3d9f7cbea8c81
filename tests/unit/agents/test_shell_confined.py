"""run_confined: the one way legato runs a shell command (the Bash tool, command gates)."""

from __future__ import annotations

from pathlib import Path

from agents.tools.shell import run_confined


def test_a_command_runs_in_its_folder_with_only_path_and_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEGATO_TEST_SECRET", "s3cret")
    ran = run_confined(
        'pwd; echo "$HOME"; echo "${LEGATO_TEST_SECRET:-unset}"', tmp_path, tmp_path, 30
    )
    assert ran.exit_code == 0 and not ran.timed_out and not ran.overflow
    assert ran.output.decode().split() == [str(tmp_path), str(tmp_path), "unset"]
    assert run_confined("exit 3", tmp_path, tmp_path, 30).exit_code == 3


def test_output_past_the_limit_stops_the_command(tmp_path: Path) -> None:
    ran = run_confined("yes legato; sleep 60", tmp_path, tmp_path, 120, limit=1024)
    assert ran.overflow and ran.exit_code is None and not ran.timed_out
    assert len(ran.output) == 1024


def test_a_command_past_its_time_is_killed_with_its_children(tmp_path: Path) -> None:
    ran = run_confined("sleep 60 & sleep 60; echo never", tmp_path, tmp_path, 0.2)
    assert ran.timed_out and ran.exit_code is None and b"never" not in ran.output
