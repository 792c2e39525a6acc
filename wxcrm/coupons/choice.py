"""Which of a member's coupons a basket takes: pure (no database), so the chooser can be
tested against a brute-force oracle.

The order at the till (README, "Coupons at the till"):

1. the rules' discounts come off the basket lines first;
2. then the coupons, on what each line still costs, in a fixed order: free items and
   gifts, then percentages, then cash and spend-X-get-Y coupons (a percentage before a
   fixed amount is the better order for the member); each spreads its discount over the
   lines it holds for, in proportion to what they still cost;
3. then points pay part of what is left (``WXCRM_POINTS_MAX_SHARE_PCT``).

A minimum spend is measured on the lines the coupon holds for, after the rules'
discounts and before any coupon. Combining: at most one coupon of a template per
purchase; a coupon that is not ``combinable`` is used alone; a coupon without
``with_points`` is not used when points pay part of the bill. Among the combinations
these rules allow, the one worth most to the member wins (a gift counts for its stated
worth); on a tie, fewer coupons, then those that expire first.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations

from wxcrm.money import spread

ORDER = {"free_item": 0, "gift": 1, "percent": 2, "cash": 3, "spend_get": 3}

# reason codes for a coupon left out (labels translate them; see wxcrm/web/labels.py)
REASONS = ("not_started", "expired", "wrong_store", "wrong_store_kind", "wrong_tier", "wrong_day", "wrong_hour",
           "no_eligible_items", "item_not_in_basket", "below_min_spend", "not_with_points", "gift_needs_scan",
           "one_per_template", "better_choice", "no_value")


@dataclass(frozen=True)
class Line:
    line_no: int
    sku: str
    category: str
    qty: int
    unit_price_fen: int
    net_fen: int                      # after the rules' discounts


@dataclass(frozen=True)
class Offer:
    """A coupon the member holds (or scanned), with what its template says."""
    coupon_id: int
    code: str
    template_id: int
    type: str
    valid_from: date
    valid_until: date
    face_value_fen: int = 0
    percent_off: int = 0
    cap_fen: int | None = None
    item_sku: str = ""
    min_spend_fen: int = 0
    restrictions: dict = field(default_factory=dict, hash=False, compare=False)
    combinable: bool = False
    with_points: bool = True
    scanned: bool = False
    title: str = ""
    title_en: str = ""


@dataclass(frozen=True)
class Till:
    store_code: str
    store_kind: str
    tier: str | None
    today: date
    weekday: int                      # ISO: Monday 1 .. Sunday 7
    hour: int
    paying_with_points: bool = False


@dataclass(frozen=True)
class Applied:
    offer: Offer
    discount_fen: int
    line_discounts: tuple[tuple[int, int], ...]   # (line_no, fen)

    @property
    def worth_fen(self) -> int:
        # A gift counts for its stated worth (at least a fen: a scanned gift is always worth handing over).
        return self.discount_fen + (max(self.offer.face_value_fen, 1) if self.offer.type == "gift" else 0)


@dataclass(frozen=True)
class Choice:
    applied: tuple[Applied, ...]
    left_out: tuple[tuple[Offer, str], ...]        # (offer, reason code)

    @property
    def discount_fen(self) -> int:
        return sum(a.discount_fen for a in self.applied)

    @property
    def worth_fen(self) -> int:
        return sum(a.worth_fen for a in self.applied)

    def line_discounts(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for a in self.applied:
            for n, fen in a.line_discounts:
                out[n] = out.get(n, 0) + fen
        return out


NOTHING = Choice((), ())


def eligible_lines(offer: Offer, lines: Sequence[Line]) -> list[Line]:
    r = offer.restrictions or {}
    out = []
    for line in lines:
        if r.get("skus_in") and line.sku not in r["skus_in"] and not (
                r.get("categories_in") and line.category in r["categories_in"]):
            continue
        if r.get("categories_in") and not r.get("skus_in") and line.category not in r["categories_in"]:
            continue
        if line.sku in (r.get("skus_out") or ()) or line.category in (r.get("categories_out") or ()):
            continue
        out.append(line)
    return out


def why_not(offer: Offer, till: Till, lines: Sequence[Line]) -> str | None:
    """Why this coupon cannot be used on this basket on its own, or None."""
    r = offer.restrictions or {}
    if offer.valid_from > till.today:
        return "not_started"
    if offer.valid_until < till.today:
        return "expired"
    if r.get("stores") and till.store_code not in r["stores"]:
        return "wrong_store"
    if r.get("store_kinds") and till.store_kind not in r["store_kinds"]:
        return "wrong_store_kind"
    if r.get("tiers") and till.tier not in r["tiers"]:
        return "wrong_tier"
    if r.get("weekdays") and till.weekday not in r["weekdays"]:
        return "wrong_day"
    hours = r.get("hours")
    if hours and not (hours[0] <= till.hour < hours[1]):
        return "wrong_hour"
    if offer.with_points is False and till.paying_with_points:
        return "not_with_points"
    if offer.type == "gift" and not offer.scanned:
        return "gift_needs_scan"
    held = eligible_lines(offer, lines)
    if not held:
        return "no_eligible_items"
    if offer.type == "free_item" and not any(line.sku == offer.item_sku for line in held):
        return "item_not_in_basket"
    if offer.min_spend_fen and sum(line.net_fen for line in held) < offer.min_spend_fen:
        return "below_min_spend"
    return None


def _apply(offer: Offer, held: Sequence[Line], left: dict[int, int]) -> Applied:
    """``offer`` on what the ``held`` lines still cost (``left``, changed in place)."""
    if offer.type == "gift":
        return Applied(offer, 0, ())
    if offer.type == "free_item":
        best = max((ln for ln in held if ln.sku == offer.item_sku and left[ln.line_no] > 0),
                   key=lambda ln: (min(ln.unit_price_fen, left[ln.line_no]), -ln.line_no), default=None)
        if best is None:
            return Applied(offer, 0, ())
        off = min(best.unit_price_fen, left[best.line_no])
        left[best.line_no] -= off
        return Applied(offer, off, ((best.line_no, off),))
    base = sum(left[ln.line_no] for ln in held)
    if offer.type == "percent":
        off = base * offer.percent_off // 100
        if offer.cap_fen is not None:
            off = min(off, offer.cap_fen)
    else:                                               # cash, spend_get
        off = min(offer.face_value_fen, base)
    shares = spread(off, [left[ln.line_no] for ln in held])
    parts = []
    for ln, fen in zip(held, shares):
        if fen:
            left[ln.line_no] -= fen
            parts.append((ln.line_no, fen))
    return Applied(offer, off, tuple(parts))


def canonical(offers: Sequence[Offer]) -> list[Offer]:
    return sorted(offers, key=lambda o: (ORDER[o.type], o.valid_until, o.code))


def price_set(offers: Sequence[Offer], lines: Sequence[Line]) -> tuple[Applied, ...]:
    """What a set of coupons gives together, applied in the fixed order."""
    left = {ln.line_no: ln.net_fen for ln in lines}
    return tuple(_apply(o, eligible_lines(o, lines), left) for o in canonical(offers))


def allowed_together(offers: Sequence[Offer]) -> bool:
    if len({o.template_id for o in offers}) != len(offers):
        return False
    return len(offers) <= 1 or all(o.combinable for o in offers)


def _rank(applied: Sequence[Applied]) -> tuple:
    """Higher is better: worth, then fewer coupons, then the earliest expiries used."""
    return (sum(a.worth_fen for a in applied), -len(applied),
            tuple(-a.offer.valid_until.toordinal() for a in applied))


def choose(offers: Sequence[Offer], till: Till, lines: Sequence[Line]) -> Choice:
    """The combination of ``offers`` worth most to the member, and why each other one is left out."""
    if not offers:
        return NOTHING
    left_out: list[tuple[Offer, str]] = []
    usable: list[Offer] = []
    for offer in offers:
        reason = why_not(offer, till, lines)
        if reason:
            left_out.append((offer, reason))
        else:
            usable.append(offer)
    # One per template: the one that expires first (same template, same worth).
    first: dict[int, Offer] = {}
    for offer in sorted(usable, key=lambda o: (not o.scanned, o.valid_until, o.code)):
        if offer.template_id in first:
            left_out.append((offer, "one_per_template"))
        else:
            first[offer.template_id] = offer
    candidates = list(first.values())
    options: list[tuple[Applied, ...]] = [price_set([o], lines) for o in candidates if not o.combinable]
    together = [o for o in candidates if o.combinable]
    if together:
        options.append(_without_dead_weight(together, lines))
    options = [opt for opt in options if opt and sum(a.worth_fen for a in opt) > 0]
    best = max(options, key=_rank, default=())
    chosen = {a.offer.coupon_id for a in best}
    for offer in candidates:
        if offer.coupon_id not in chosen:
            alone = price_set([offer], lines)
            left_out.append((offer, "no_value" if sum(a.worth_fen for a in alone) == 0 or (
                offer.combinable and all(o.combinable for o in (a.offer for a in best)) and best)
                else "better_choice"))
    return Choice(best, tuple(sorted(left_out, key=lambda p: p[0].code)))


def _without_dead_weight(offers: list[Offer], lines: Sequence[Line]) -> tuple[Applied, ...]:
    """All combinable coupons together (adding one never lowers the total: each takes off
    what is left), less those that add nothing, dropped from the last one back."""
    current = canonical(offers)
    worth = sum(a.worth_fen for a in price_set(current, lines))
    for offer in reversed(canonical(offers)):
        trial = [o for o in current if o is not offer]
        if trial and sum(a.worth_fen for a in price_set(trial, lines)) == worth:
            current = trial
    return price_set(current, lines)


def brute_force(offers: Sequence[Offer], till: Till, lines: Sequence[Line]) -> tuple[Applied, ...]:
    """The oracle: every allowed subset of the individually usable coupons, the best by
    the same ranking. Exponential; for tests only."""
    usable = [o for o in offers if why_not(o, till, lines) is None]
    best: tuple[Applied, ...] = ()
    for size in range(1, len(usable) + 1):
        for subset in combinations(usable, size):
            if allowed_together(subset):
                priced = price_set(subset, lines)
                if sum(a.worth_fen for a in priced) > 0 and (not best or _rank(priced) > _rank(best)):
                    best = priced
    return best
