"""The console in a real browser against the real stack (AUTH_MODE=none, the session's API).

Each test's page must log no console error (see conftest.watched). The screenshots
the README shows are taken here, into docs/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import IDLE_TIER
from tests.console import pieces
from tests.console.conftest import screenshot
from tests.fakellm import text, tool_call
from tests.integration.helpers import ask_for_the_format, movement, submit, wait_for_status
from tests.integration.idle import no_idle_jobs_left  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.integration

BROKEN_PIECE = """name: broken
initial_movement: plan
movements:
  - name: plan
    rules:
      - condition: ready
        next: reviw
  - name: review
    rules:
      - condition: ok
        next: COMPLETE
"""


@pytest.fixture(scope="module", autouse=True)
def console_pieces(stack_env):
    pieces.install(stack_env["LEGATO_DATA_DIR"])


def test_jobs_list_shows_a_submitted_job_and_its_status_changes_live(page, live_api, client):
    job = submit(client, piece="demo", tier=IDLE_TIER, instruction="list me in the console")
    page.goto(f"{live_api}/ui/?tier={IDLE_TIER}")
    row = page.locator(f'tr[data-id="{job["id"]}"]')
    expect(row).to_contain_text("list me in the console")
    expect(row).to_contain_text("queued")
    expect(page.locator("#jobs-table thead")).to_contain_text("Created")
    screenshot(page, "jobs")

    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    expect(row.locator(".status")).to_have_text("cancelled")  # no reload

    page.fill("input[name=search]", job["id"][:8])
    page.click("#filters button[type=submit]")
    expect(page.locator("#jobs-body tr")).to_have_count(1)
    expect(page.locator("#jobs-body tr").first).to_have_attribute("data-id", job["id"])


def test_job_page_follows_movements_live_and_takes_input(page, live_api, client, worker, llm):
    # user-inputs: `ask` needs the user's input before `answer` runs.
    ask_for_the_format(llm)
    llm.when(movement("answer"), text("Markdown it is."))
    job = submit(
        client, piece="user-inputs", instruction="write the release notes", interactive=True
    )
    wait_for_status(client, job["id"], "waiting_human")

    page.goto(f"{live_api}/ui/jobs/{job['id']}")
    expect(page.locator("#job-status")).to_have_text("waiting_human")
    # `ask` ran once and waits to run again with the input (TAKT's requires_user_input).
    asks = page.locator('#timeline-body tr.run[data-name="ask"]')
    expect(asks).to_have_count(2)
    expect(asks.first).to_contain_text("completed")
    expect(asks.last).to_contain_text("pending")
    expect(page.locator('svg.graph g.node[data-name="ask"]')).to_have_class(re.compile("visited"))
    expect(page.locator("#input-label")).to_contain_text("waits for your input")

    page.fill("#input-text", "Markdown, please")
    page.click("#input-form button[type=submit]")

    # The page was not reloaded: the stream brought the rest.
    expect(page.locator("#job-status")).to_have_text("succeeded")
    expect(page.locator('#timeline-body tr.run[data-name="answer"]')).to_contain_text("completed")
    expect(page.locator("#result")).to_have_text("Markdown it is.")
    expect(page.locator('svg.graph g.edge[data-from="ask"][data-to="answer"]')).to_have_class(
        re.compile("taken")
    )
    expect(page.locator('svg.graph g.node[data-name="COMPLETE"]')).to_have_class(
        re.compile("visited")
    )
    expect(page.locator("#events")).to_contain_text("input_received")

    page.locator('#timeline-body tr.run[data-name="answer"]').click()
    expect(page.locator("#run-detail")).to_contain_text("Markdown, please")  # in its prompt
    screenshot(page, "job")


def test_a_question_is_answered_from_the_page(page, live_api, client, worker, llm):
    llm.when(
        lambda r: r.movement == "clarify" and "navy blue" in r.prompt,
        text("Navy blue it is."),
    )
    llm.when(
        movement("clarify"),
        tool_call("ask_human", {"question": "Which colour do you want?"}),
        text("Waiting for the answer."),
    )
    llm.when(movement("finish"), text("Painted navy blue."))
    job = submit(client, piece="console-ask", instruction="paint the shed")

    page.goto(f"{live_api}/ui/jobs/{job['id']}")
    expect(page.locator("#question")).to_contain_text("Which colour do you want?")
    page.fill("#answer-text", "navy blue")
    page.click("#answer-form button[type=submit]")

    expect(page.locator("#job-status")).to_have_text("succeeded")
    expect(page.locator("#result")).to_have_text("Painted navy blue.")
    expect(page.locator("#answer-form")).to_be_hidden()
    assert wait_for_status(client, job["id"])["status"] == "succeeded"


def test_cancel_from_the_page(page, live_api, client):
    job = submit(client, piece="demo", tier=IDLE_TIER, instruction="cancel me from the page")
    page.goto(f"{live_api}/ui/jobs/{job['id']}")
    expect(page.locator("#job-status")).to_have_text("queued")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-btn")
    expect(page.locator("#job-status")).to_have_text("cancelled")
    expect(page.locator("#cancel-btn")).to_be_hidden()
    assert client.get(f"/api/jobs/{job['id']}").get_json()["status"] == "cancelled"


def test_an_invalid_piece_shows_its_problems_with_yaml_paths(page, live_api):
    page.goto(f"{live_api}/ui/pieces")
    expect(page.locator("#pieces-body")).to_contain_text("demo")
    page.fill("#yaml", BROKEN_PIECE)
    page.click("#validate-form button[type=submit]")
    problems = page.locator("#problems")
    expect(problems).to_contain_text("movements[0].rules[0].next")
    expect(problems).to_contain_text("reviw")
    expect(page.locator("#validation-summary")).to_contain_text("error")
    screenshot(page, "piece-validation")


def test_a_piece_page_draws_its_graph(page, live_api):
    page.goto(f"{live_api}/ui/pieces/default")
    for name in ("plan", "implement", "review", "fix", "COMPLETE", "ABORT"):
        expect(page.locator(f'svg.graph g.node[data-name="{name}"]')).to_have_count(1)
    expect(page.locator("details.movement").first).to_contain_text("Rules")
    screenshot(page, "piece")


def test_agents_can_be_created_edited_and_chatted_with(page, live_api, worker, llm):
    llm.when(lambda r: "hello agent" in r.prompt, text("Hello back."))
    page.goto(f"{live_api}/ui/agents")
    page.fill("#agent-form input[name=name]", "console-helper")
    page.fill("#agent-form textarea[name=system_prompt]", "Be brief.")
    page.click("#agent-save")
    row = page.locator("#agents-body tr", has_text="console-helper")
    expect(row).to_have_count(1)

    row.get_by_role("button", name="edit").click()
    page.fill("#agent-form input[name=model]", "fake-model")
    page.click("#agent-save")
    expect(row).to_contain_text("fake-model")

    row.get_by_role("button", name="chat").click()
    page.fill("#chat-text", "hello agent")
    page.click("#chat-send")
    expect(page.locator("#chat-log")).to_contain_text("Hello back.")
    screenshot(page, "agents")


def test_every_page_loads_without_console_errors(page, live_api, client, worker):
    job = submit(client, piece="demo", tier=IDLE_TIER, instruction="just look at me")
    for path, ready in (
        ("/ui/", "#jobs-body tr[data-id]"),
        (f"/ui/jobs/{job['id']}", "#facts dd"),
        ("/ui/pieces", "#pieces-body a"),
        ("/ui/pieces/review", "svg.graph"),
        ("/ui/agents", "#agents-body td"),
        ("/ui/workers", "#workers-body td"),
        ("/docs", ".opblock"),
    ):
        page.goto(live_api + path)
        expect(page.locator(ready).first).to_be_visible()
    page.goto(f"{live_api}/ui/workers")
    expect(page.locator("#swarm-error")).to_contain_text("SWARM_ENABLED")  # the API's 503 text
    # the session's worker, from its database heartbeat
    expect(page.locator("#workers-body")).to_contain_text("maintenance")
    screenshot(page, "workers")
    page.goto(f"{live_api}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    screenshot(page, "docs")
