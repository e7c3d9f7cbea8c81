"""The pieces surfaces: GET /api/pieces[/{name}], POST /api/pieces/validate, the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

BROKEN = """\
name: broken
movements:
  - name: plan
    rules:
      - condition: ok
        next: reviw
  - name: review
    rules:
      - condition: done
        next: COMPLETE
"""


def test_list_includes_builtin_and_shared_libraries(client):
    items = {p["name"]: p for p in client.get("/api/pieces").get_json()["items"]}
    assert items["demo"]["source"] == "builtin"
    assert items["demo"]["movements"] == ["draft", "review"]
    assert items["linear"]["source"] == "piece_suite"  # from PIECES_PATH


def test_show_returns_the_resolved_piece(client):
    body = client.get("/api/pieces/parallel").get_json()
    reviewers = next(m for m in body["piece"]["movements"] if m["name"] == "reviewers")
    assert [s["name"] for s in reviewers["parallel"]] == ["alpha", "beta"]
    assert body["warnings"] == []


def test_show_unknown_piece_is_404(client):
    resp = client.get("/api/pieces/nope")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_validate_reports_every_problem_with_its_path(client):
    body = client.post("/api/pieces/validate", json={"yaml": BROKEN}).get_json()
    assert body["ok"] is False
    assert [e["text"] for e in body["errors"]] == [
        'movements[0].rules[0].next: unknown movement "reviw" (did you mean "review"?)'
    ]
    assert {w["path"] for w in body["warnings"]} == {"movements[1]", "movements"}


def test_validate_a_good_piece(client):
    good = BROKEN.replace("reviw", "review")
    body = client.post("/api/pieces/validate", json={"yaml": good}).get_json()
    assert body == {"ok": True, "errors": [], "warnings": []}


@pytest.mark.parametrize(
    "body", [{}, {"yaml": ""}, {"yaml": 7}, {"yaml": "x", "more": 1}, {"yaml": "a\x00b"}]
)
def test_validate_bad_requests_are_422(client, body):
    resp = client.post("/api/pieces/validate", json=body)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "invalid"


def test_validate_yaml_garbage_is_a_report_not_an_error(client):
    body = client.post("/api/pieces/validate", json={"yaml": "[unclosed"}).get_json()
    assert body["ok"] is False and body["errors"]


def test_job_naming_an_invalid_piece_is_422_with_the_list(client, stack_env, tmp_path):
    from pathlib import Path

    library = Path(stack_env["LEGATO_DATA_DIR"]) / "users" / "local" / "pieces"
    library.mkdir(parents=True, exist_ok=True)
    (library / "broken.yaml").write_text(BROKEN)
    resp = client.post("/api/jobs", json={"instruction": "x", "piece": "broken"})
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_piece"
    assert error["details"][0]["path"] == "movements[0].rules[0].next"


def test_cli_validate_exit_status(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    good = ROOT / "pieces" / "builtin" / "pieces" / "demo.yaml"

    ok = subprocess.run(
        [sys.executable, "-m", "app.cli", "pieces", "validate", str(good)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "pieces", "validate", str(good), str(broken)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )

    assert ok.returncode == 0 and "demo.yaml: ok" in ok.stdout
    assert bad.returncode == 1
    assert 'error: movements[0].rules[0].next: unknown movement "reviw"' in bad.stdout


# -- TAKT v0.60's word: workflows ---------------------------------------------------------


def test_workflows_and_pieces_are_one_library(client):
    pieces = client.get("/api/pieces").get_json()["items"]
    workflows = client.get("/api/workflows").get_json()["items"]
    assert workflows == pieces
    assert "wf-basics" in {w["name"] for w in workflows}  # a v0.60 file, from PIECES_PATH
    shown = client.get("/api/workflows/wf-basics").get_json()
    assert shown == client.get("/api/pieces/wf-basics").get_json()
    assert client.get("/api/workflows/nope").status_code == 404


def test_workflows_validate_is_the_same_check(client):
    via_workflows = client.post("/api/workflows/validate", json={"yaml": BROKEN})
    via_pieces = client.post("/api/pieces/validate", json={"yaml": BROKEN})
    assert via_workflows.status_code == 200
    assert via_workflows.get_json() == via_pieces.get_json()
    assert client.post("/api/workflows/validate", json={}).status_code == 422


def test_a_job_names_its_workflow_with_either_word(client):
    resp = client.post("/api/jobs", json={"instruction": "hi", "workflow": "wf-basics"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["piece_name"] == "wf-basics"
    same = client.post("/api/jobs", json={"instruction": "hi", "workflow": "demo", "piece": "demo"})
    assert same.status_code == 201
    both = client.post(
        "/api/jobs", json={"instruction": "hi", "workflow": "wf-basics", "piece": "demo"}
    )
    assert both.status_code == 422
    assert both.get_json()["error"]["code"] == "invalid"
    assert "not two different names" in str(both.get_json()["error"])


def test_cli_workflows_validate_is_pieces_validate(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "workflows", "validate", str(broken)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 1
    assert 'unknown movement "reviw"' in out.stdout
