"""The till's coupon choice against a brute-force oracle: on random baskets and wallets the
chooser finds a combination worth as much as the best allowed one, never breaks the
combining rules, and gives every coupon it leaves out a reason that holds."""
from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxcrm.coupons import choice as ch

TODAY = date(2026, 11, 25)   # a Wednesday
TILL = ch.Till(store_code="S001", store_kind="direct", tier="gold", today=TODAY, weekday=3, hour=14)
SKUS = ("TEA", "CUP", "CAKE")
CATS = {"TEA": "drink", "CUP": "ware", "CAKE": "food"}


@st.composite
def baskets(draw):
    lines = []
    for n, sku in enumerate(draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=4)), start=1):
        qty = draw(st.integers(1, 3))
        price = draw(st.integers(0, 9000))
        amount = qty * price
        rule_off = draw(st.integers(0, amount // 3))
        lines.append(ch.Line(n, sku, CATS[sku], qty, price, amount - rule_off))
    return lines


@st.composite
def templates(draw, template_id):
    """A template's terms: every coupon of it shares them."""
    kind = draw(st.sampled_from(sorted(ch.ORDER)))
    restrictions = draw(st.sampled_from([{}, {"skus_in": ["TEA"]}, {"categories_out": ["food"]},
                                         {"stores": ["S002"]}, {"weekdays": [3]}, {"tiers": ["silver"]}]))
    face = draw(st.integers(1, 5000))
    return dict(template_id=template_id, type=kind, face_value_fen=face, percent_off=draw(st.integers(1, 50)),
                cap_fen=draw(st.one_of(st.none(), st.integers(1, 3000))), item_sku=draw(st.sampled_from(SKUS)),
                min_spend_fen=draw(st.sampled_from([0, 0, 3000, 12000])) if kind != "spend_get" else face + 1000,
                restrictions=restrictions, combinable=draw(st.booleans()), with_points=draw(st.booleans()))


@st.composite
def wallets(draw):
    terms = [draw(templates(t)) for t in range(1, draw(st.integers(1, 5)) + 1)]
    wallet = []
    for i in range(draw(st.integers(0, 6))):
        wallet.append(ch.Offer(coupon_id=i, code=f"C{i:02d}", valid_from=date(2026, 11, draw(st.sampled_from([1, 26]))),
                               valid_until=date(2026, 12, draw(st.integers(1, 28))), scanned=draw(st.booleans()),
                               **draw(st.sampled_from(terms))))
    return wallet


def worth(applied) -> int:
    return sum(a.worth_fen for a in applied)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=baskets(), wallet=wallets(), with_points=st.booleans())
def test_the_choice_is_worth_as_much_as_the_best_allowed_combination(lines, wallet, with_points):
    till = ch.Till(TILL.store_code, TILL.store_kind, TILL.tier, TILL.today, TILL.weekday, TILL.hour, with_points)
    picked = ch.choose(wallet, till, lines)
    best = ch.brute_force(wallet, till, lines)
    assert picked.worth_fen == worth(best)
    chosen = [a.offer for a in picked.applied]
    assert ch.allowed_together(chosen)
    # Every coupon is either applied or left out with a reason, never both.
    assert {o.coupon_id for o in chosen} | {o.coupon_id for o, _ in picked.left_out} == {o.coupon_id for o in wallet}
    assert not ({o.coupon_id for o in chosen} & {o.coupon_id for o, _ in picked.left_out})
    # The discounts never take a line below zero and add up.
    per_line = picked.line_discounts()
    for line in lines:
        assert 0 <= per_line.get(line.line_no, 0) <= line.net_fen
    assert sum(per_line.values()) == picked.discount_fen
    # Reasons hold: a coupon left out for a restriction fails that restriction alone;
    # one left out for the choice would have been usable alone.
    for offer, reason in picked.left_out:
        alone = ch.why_not(offer, till, lines)
        if reason in ("one_per_template", "better_choice", "no_value"):
            assert alone is None
        else:
            assert alone == reason
        if reason == "better_choice":
            assert worth(ch.price_set([offer], lines)) <= picked.worth_fen


def test_a_non_combinable_coupon_worth_more_beats_two_that_combine():
    lines = [ch.Line(1, "TEA", "drink", 1, 10000, 10000)]
    big = ch.Offer(1, "BIG", 1, "cash", TODAY, TODAY, face_value_fen=3000)
    a = ch.Offer(2, "A", 2, "cash", TODAY, TODAY, face_value_fen=1000, combinable=True)
    b = ch.Offer(3, "B", 3, "percent", TODAY, TODAY, percent_off=10, combinable=True)
    picked = ch.choose([big, a, b], TILL, lines)
    assert [x.offer.code for x in picked.applied] == ["BIG"]
    assert dict((o.code, r) for o, r in picked.left_out) == {"A": "better_choice", "B": "better_choice"}


def test_a_percentage_applies_before_a_fixed_amount():
    lines = [ch.Line(1, "TEA", "drink", 1, 10000, 10000)]
    a = ch.Offer(1, "A", 1, "cash", TODAY, TODAY, face_value_fen=2000, combinable=True)
    b = ch.Offer(2, "B", 2, "percent", TODAY, TODAY, percent_off=10, combinable=True)
    picked = ch.choose([a, b], TILL, lines)
    assert picked.discount_fen == 1000 + 2000


def test_each_type_and_restriction_says_why_it_is_left_out():
    lines = [ch.Line(1, "TEA", "drink", 2, 1500, 3000)]
    o = dict(valid_from=TODAY, valid_until=TODAY)
    cases = {
        "not_started": ch.Offer(1, "a", 1, "cash", date(2026, 12, 1), date(2026, 12, 9), face_value_fen=1),
        "expired": ch.Offer(2, "b", 2, "cash", TODAY, date(2026, 11, 1), face_value_fen=1),
        "wrong_store": ch.Offer(3, "c", 3, "cash", **o, face_value_fen=1, restrictions={"stores": ["S9"]}),
        "wrong_store_kind": ch.Offer(4, "d", 4, "cash", **o, face_value_fen=1,
                                     restrictions={"store_kinds": ["franchise"]}),
        "wrong_tier": ch.Offer(5, "e", 5, "cash", **o, face_value_fen=1, restrictions={"tiers": ["vip"]}),
        "wrong_day": ch.Offer(6, "f", 6, "cash", **o, face_value_fen=1, restrictions={"weekdays": [6, 7]}),
        "wrong_hour": ch.Offer(7, "g", 7, "cash", **o, face_value_fen=1, restrictions={"hours": [18, 22]}),
        "no_eligible_items": ch.Offer(8, "h", 8, "cash", **o, face_value_fen=1, restrictions={"skus_out": ["TEA"]}),
        "item_not_in_basket": ch.Offer(9, "i", 9, "free_item", **o, item_sku="CAKE"),
        "below_min_spend": ch.Offer(10, "j", 10, "spend_get", **o, face_value_fen=500, min_spend_fen=5000),
        "gift_needs_scan": ch.Offer(11, "k", 11, "gift", **o, item_sku="BAG", face_value_fen=100),
    }
    picked = ch.choose(list(cases.values()), TILL, lines)
    assert picked.applied == ()
    assert {o.code: r for o, r in picked.left_out} == {offer.code: reason for reason, offer in cases.items()}
    points_till = ch.Till("S001", "direct", "gold", TODAY, 3, 14, paying_with_points=True)
    no_points = ch.Offer(12, "l", 12, "cash", **o, face_value_fen=100, with_points=False)
    assert ch.choose([no_points], points_till, lines).left_out[0][1] == "not_with_points"


def test_free_item_gift_percent_cap_and_spend_get_are_priced_as_their_words_say():
    lines = [ch.Line(1, "TEA", "drink", 2, 1500, 3000), ch.Line(2, "CAKE", "food", 1, 2000, 2000)]
    o = dict(valid_from=TODAY, valid_until=TODAY)
    free = ch.choose([ch.Offer(1, "F", 1, "free_item", **o, item_sku="TEA")], TILL, lines)
    assert free.discount_fen == 1500 and free.line_discounts() == {1: 1500}
    capped = ch.choose([ch.Offer(2, "P", 2, "percent", **o, percent_off=50, cap_fen=800)], TILL, lines)
    assert capped.discount_fen == 800
    cats = ch.choose([ch.Offer(3, "C", 3, "percent", **o, percent_off=10, restrictions={"categories_in": ["food"]})],
                     TILL, lines)
    assert cats.line_discounts() == {2: 200}
    sg = ch.choose([ch.Offer(4, "S", 4, "spend_get", **o, face_value_fen=1000, min_spend_fen=5000)], TILL, lines)
    assert sg.discount_fen == 1000
    gift = ch.choose([ch.Offer(5, "G", 5, "gift", **o, item_sku="BAG", face_value_fen=900, scanned=True)],
                     TILL, lines)
    assert gift.discount_fen == 0 and gift.worth_fen == 900 and len(gift.applied) == 1
