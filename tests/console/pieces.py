"""Pieces the console tests run, written to the `local` owner's piece folder."""

from __future__ import annotations

from pathlib import Path

ASK = """
name: console-ask
description: asks the human one question, then answers
initial_movement: clarify
movements:
  - name: clarify
    instruction: "{task}"
    allowed_tools: [ask_human]
    rules:
      - condition: Clear
        next: finish
  - name: finish
    instruction: "Finish: {task}"
    rules:
      - condition: Done
        next: COMPLETE
"""


def install(data_dir: str) -> None:
    folder = Path(data_dir) / "users" / "local" / "pieces"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "console-ask.yaml").write_text(ASK.lstrip())
