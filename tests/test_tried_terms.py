"""docs/tried-terms.md indexes the terms docs/model-notes.md records as tried: every round section of the notes has a
row in it, and every row's round is a section of the notes (round 17 repeated round 10's KV-cache efficiency split
because nothing indexed the attempts)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT / "docs" / "model-notes.md"
INDEX = ROOT / "docs" / "tried-terms.md"


def _table_rows(text: str) -> list[list[str]]:
    rows = [line.strip().strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in r] for r in rows[1:]]  # drop the header (the separator does not start with "| ")


def test_every_round_of_the_notes_has_a_row_and_every_row_a_round():
    notes_rounds = {int(n) for n in re.findall(r"^## Issue-11, round (\d+)", NOTES.read_text(), re.M)}
    rows = _table_rows(INDEX.read_text())
    assert rows and all(len(r) == 4 for r in rows), "columns: term | round | adopted? | measured effect"
    index_rounds = {int(m.group(1)) for r in rows if (m := re.fullmatch(r"round (\d+)", r[1]))}
    assert notes_rounds, "no 'Issue-11, round N' sections found in docs/model-notes.md"
    assert notes_rounds - index_rounds == set(), "rounds of docs/model-notes.md with no row in docs/tried-terms.md"
    assert index_rounds - notes_rounds == set(), "rows of docs/tried-terms.md naming a round the notes do not have"
    assert all(r[0] and r[3] for r in rows), "every row names its term and its measured effect"
