"""The demo provider quotes the task of a legato prompt, not its persona."""

from agents.demo import demo_reply


def test_quotes_the_task_section_of_a_legato_prompt():
    prompt = (
        "## Knowledge\nYou plan carefully.\n\n## User Request\nAdd a --verbose flag\n\n"
        "## Instructions\nx"
    )
    reply = demo_reply([{"role": "user", "content": prompt}], "plan")
    assert "> Add a --verbose flag" in reply
    assert "plan carefully" not in reply
    assert reply.endswith("Done.")


def test_judgments_and_reports_get_their_phase_shape():
    import json

    step = {"properties": {"step": {"type": "integer"}}}
    assert json.loads(demo_reply([], "review", "judge_structured", step))["step"] == 1
    assert demo_reply([], "review", "judge_tag") == "[REVIEW:1]"
    assert demo_reply([], "review", "report").startswith("# Report")


def test_plain_text_is_quoted_as_is():
    assert "> hello there" in demo_reply([{"role": "user", "content": "hello there"}])
