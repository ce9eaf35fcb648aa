"""`no_formula`: what a spreadsheet would evaluate is made inert, everything else untouched."""

from __future__ import annotations

import pytest

from hub.reports.exports import no_formula


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        (
            '=HYPERLINK("http://evil.example","Durand")',
            '\'=HYPERLINK("http://evil.example","Durand")',
        ),
        ("+33 4 71 00 00 00", "'+33 4 71 00 00 00"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t'=1+1"),
        ("\r=1+1", "'\r'=1+1"),
        # Opened with another separator (French Excel splits on ';'), each piece is a cell.
        ("0.1;=cmd|' /C calc'!A0", "0.1;'=cmd|' /C calc'!A0"),
        ("x|@SUM(A1)", "x|'@SUM(A1)"),
        ("a\n=1+1", "a\n'=1+1"),
        ("x; =1+1", "x;' =1+1"),
        ("x\t-1+1", "x\t'-1+1"),
        ("1,5;-2,50", "1,5;-2,50"),
        # Names, ids and numbers the hub writes itself stay as they are.
        ("Durand", "Durand"),
        ("Léa Roux", "Léa Roux"),
        ("M001", "M001"),
        ("-2.50", "-2.50"),
        ("12", "12"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_text_that_a_spreadsheet_would_evaluate_is_made_inert(text: str, written: str) -> None:
    assert no_formula(text) == written
