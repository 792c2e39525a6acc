"""Money is integer fen; earned points round down; amounts typed in yuan parse exactly."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxcrm.money import cumulative_share, fen_to_yuan_str, points_for_amount, pro_rata_down, spread, yuan_str_to_fen


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
    assert points_for_amount(10_000, points_per_yuan=2) == 200
    assert points_for_amount(-100) == 0


@given(st.integers(0, 10**9), st.integers(0, 10**6), st.integers(1, 10**6))
def test_pro_rata_never_exceeds_the_whole(total, part, whole):
    part = min(part, whole)
    assert 0 <= pro_rata_down(total, part, whole) <= total


def test_a_discount_spread_gives_the_odd_fen_to_the_largest_remainder():
    assert spread(31, [101, 202]) == [10, 21]
    assert spread(0, [5, 5]) == [0, 0]
    assert spread(3, [1, 1, 1, 1]) == [1, 1, 1, 0]      # ties: the earlier lines


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=30), st.data())
def test_a_spread_adds_up_and_never_exceeds_a_line(weights, data):
    amount = data.draw(st.integers(0, sum(weights)))
    shares = spread(amount, weights)
    assert sum(shares) == amount
    assert all(0 <= s <= w for s, w in zip(shares, weights))


@given(st.integers(0, 10**9), st.lists(st.integers(1, 50), min_size=1, max_size=10))
def test_cumulative_shares_of_partial_refunds_add_up_to_the_whole(total, slices):
    whole = sum(slices)
    done, parts = 0, []
    for i, size in enumerate(slices):
        parts.append(cumulative_share(total, done, done + size, whole, last=i == len(slices) - 1))
        done += size
    assert sum(parts) == total and all(p >= 0 for p in parts)
