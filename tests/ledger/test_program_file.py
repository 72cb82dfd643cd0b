"""Program files: problems name their line, impossible dates included."""

from __future__ import annotations

import pytest

from nextbest.ledger.program import ProgramError, parse_program


def test_an_impossible_date_names_its_line() -> None:
    with pytest.raises(ProgramError) as caught:
        parse_program("program: x\nstarts: 2026-13-01\n")
    assert caught.value.issues[0].line == 2
    assert "month must be in 1..12" in caught.value.issues[0].message


def test_a_type_error_names_its_line() -> None:
    with pytest.raises(ProgramError) as caught:
        parse_program("program: x\ncurrency: USD\npoints:\n  spendable: [1, 2]\n")
    assert any(i.line == 4 for i in caught.value.issues)
