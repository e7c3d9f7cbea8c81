"""The demo provider quotes the task of a legato prompt, not its persona."""

from agents.demo import demo_reply


def test_quotes_the_task_section_of_a_legato_prompt():
    prompt = "# Persona\n\nYou plan carefully.\n\n# Task\n\nAdd a --verbose flag\n\n# Status\n\nx"
    reply = demo_reply([{"role": "user", "content": prompt}], "plan")
    assert "> Add a --verbose flag" in reply
    assert "plan carefully" not in reply
    assert reply.endswith("[STEP:0]")


def test_plain_text_is_quoted_as_is():
    assert "> hello there" in demo_reply([{"role": "user", "content": "hello there"}])
