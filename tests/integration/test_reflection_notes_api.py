"""GET /api/notes and DELETE /api/notes/{id}: owner-scoped, JSON errors for bad input."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def notes(app, db_session):
    from app.notes import Note

    rows = [
        Note(owner_id="local", piece_name="demo", content="prefer short drafts"),
        Note(owner_id="local", piece_name=None, content="the owner writes in British English"),
        Note(owner_id="someone-else", piece_name="demo", content="not yours"),
    ]
    db_session.add_all(rows)
    db_session.commit()
    yield rows
    for row in rows:
        db_session.delete(row) if db_session.get(Note, row.id) else None
    db_session.commit()


def test_list_shows_only_the_callers_notes(client, notes):
    resp = client.get("/api/notes?limit=200")
    assert resp.status_code == 200
    contents = {n["content"] for n in resp.get_json()["items"]}
    assert {"prefer short drafts", "the owner writes in British English"} <= contents
    assert "not yours" not in contents


def test_list_filters_by_piece_and_pages(client, notes):
    body = client.get("/api/notes?piece=demo&limit=1").get_json()
    assert [n["content"] for n in body["items"]] == ["prefer short drafts"]
    assert body["limit"] == 1


def test_delete_own_note_then_it_is_gone(client, notes):
    mine = notes[0]
    assert client.delete(f"/api/notes/{mine.id}").status_code == 204
    again = client.delete(f"/api/notes/{mine.id}")
    assert again.status_code == 404
    assert again.get_json()["error"]["code"] == "not_found"


def test_another_owners_note_is_a_404(client, notes):
    resp = client.delete(f"/api/notes/{notes[2].id}")
    assert resp.status_code == 404
    assert set(resp.get_json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "limit=abc", "offset=-1", "piece=..%2Fetc", "colour=red"],
)
def test_bad_list_queries_are_422_json(client, query):
    resp = client.get(f"/api/notes?{query}")
    assert resp.status_code in (400, 422), resp.get_json()
    assert "error" in resp.get_json()


@pytest.mark.parametrize("note_id", ["not-a-uuid", "123", str(uuid.uuid4())])
def test_bad_or_unknown_note_ids_are_404_json(client, note_id):
    resp = client.delete(f"/api/notes/{note_id}")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_notes_api_rejects_other_methods_with_json(client):
    resp = client.post("/api/notes", json={"content": "x"})
    assert resp.status_code == 405
    assert "error" in resp.get_json()
