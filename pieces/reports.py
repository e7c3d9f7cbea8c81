"""Reports named by a movement's output contracts, taken from the agent's reply."""

from __future__ import annotations

import re

from pieces.model import Movement, OutputContract
from pieces.rules import strip_tags

# The prompt asks for <report name="FILE"> … </report>; the block form keeps several
# reports in one reply apart without relying on the agent having a file-writing tool.
_BLOCK = re.compile(
    r"<report\s+name\s*=\s*[\"']([^\"'\n]+)[\"']\s*>\s*\n?(.*?)\n?\s*</report>",
    re.IGNORECASE | re.DOTALL,
)


def report_block(name: str, body: str = "...") -> str:
    return f'<report name="{name}">\n{body}\n</report>'


def _owner(contracts: list[OutputContract], key: str) -> OutputContract | None:
    key = key.strip()
    for c in contracts:
        if key == c.name or (c.label and key.casefold() == c.label.casefold()):
            return c
    return None


def extract_reports(movement: Movement, output: str | None) -> dict[str, str]:
    """Report file name -> content, for each contract the output delivers.

    With a single contract and no report block, the whole reply (status tag removed) is
    taken as the report: agents often just answer with the document itself.
    """
    contracts = movement.output_contracts
    if not contracts or not output:
        return {}
    found: dict[str, str] = {}
    for key, body in _BLOCK.findall(output):
        contract = _owner(contracts, key)
        if contract is not None and body.strip():
            found[contract.name] = body.strip()  # a later block replaces an earlier draft
    if not found and len(contracts) == 1:
        text = strip_tags(output).strip()
        if text:
            found[contracts[0].name] = text
    return found
