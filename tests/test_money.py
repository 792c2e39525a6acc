"""Money is integer fen; earned points round down; amounts typed in yuan parse exactly."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from wxcrm.money import fen_to_yuan_str, points_for_amount, pro_rata_down, yuan_str_to_fen


def test_fen_show_as_yuan():
    assert fen_to_yuan_str(2590) == "25.90"
    assert fen_to_yuan_str(-5) == "-0.05"
    assert fen_to_yuan_str(12_252_450, grouped=True) == "122,524.50"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_yuan_text_round_trips_exactly(fen):
    assert yuan_str_to_fen(fen_to_yuan_str(fen)) == fen


@pytest.mark.parametrize("text", ["", "-", ".", "abc", "1.234", "1..2", "1,5", "1.-5"])
def test_bad_amounts_are_refused(text):
    with pytest.raises(ValueError):
        yuan_str_to_fen(text)


def test_short_forms_parse():
    assert yuan_str_to_fen("18") == 1800 and yuan_str_to_fen("16.5") == 1650 and yuan_str_to_fen(".5") == 50


def test_earned_points_round_down():
    assert points_for_amount(2590) == 25
    assert points_for_amount(99) == 0
    assert points_for_amount(10_000, points_per_yuan=2, multiplier_pct=150) == 300
    assert points_for_amount(-100) == 0


@given(st.integers(0, 10**9), st.integers(0, 10**6), st.integers(1, 10**6))
def test_pro_rata_never_exceeds_the_whole(total, part, whole):
    part = min(part, whole)
    assert 0 <= pro_rata_down(total, part, whole) <= total
