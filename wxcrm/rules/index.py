"""The event index: bitsets over one event's live rules, so that a purchase's candidate
rules are the AND of a few precomputed masks (its store, store kind, tier, group account
and the rules open on its business day) and a rule scoped elsewhere costs nothing."""
from __future__ import annotations

from datetime import date

from wxcrm.rules.facts import FactSnapshot


class EventIndex:
    """Bitsets over one event's live rules (bit i = the i-th rule in evaluation order).

    The per-day masks and candidate lists are filled on first use. Worker threads may
    share an index: a race only computes the same entry twice.
    """

    _MAX_CACHED_DAYS = 400
    _MAX_CACHED_LISTS = 50_000

    def __init__(self, rules: list):
        """``rules``: the event's live CompiledRules, in evaluation order."""
        self.rules = tuple(rules)
        dims = {}
        for attr in ("stores", "store_kinds", "tiers", "groups"):
            open_bits, by_value = 0, {}
            for bit, rule in enumerate(rules):
                allowed = getattr(rule.index_scope, attr)
                if allowed is None:
                    open_bits |= 1 << bit
                else:
                    for value in allowed:
                        by_value[value] = by_value.get(value, 0) | 1 << bit
            dims[attr] = ({value: bits | open_bits for value, bits in by_value.items()}, open_bits)
        self.by_store, self.any_store = dims["stores"]
        self.by_kind, self.any_kind = dims["store_kinds"]
        self.by_tier, self.any_tier = dims["tiers"]
        self.by_group, self.any_group = dims["groups"]
        self.every_day = 0
        self.dated: list[tuple[int, object]] = []   # (bit, CompiledRule) of rules open on some days only
        for bit, rule in enumerate(rules):
            if rule.validity.depends_on_day or rule.index_weekdays is not None:
                self.dated.append((1 << bit, rule))
            else:
                self.every_day |= 1 << bit
        # What the engine's walk needs of each rule, made once: every candidate list
        # shares these rather than holding copies.
        self._entries = tuple((rule.predicate, rule.limits, rule.stop, rule) for rule in rules)
        self._day_masks: dict[date, int] = {}
        self._lists: dict[tuple, tuple[tuple, ...]] = {}
        self._lists_by_bits: dict[int, tuple[tuple, ...]] = {}

    def open_on(self, day: date, weekday: int) -> int:
        mask = self._day_masks.get(day)
        if mask is None:
            mask = self.every_day
            for bit, rule in self.dated:
                if rule.validity.open_on(day, weekday) and \
                        (rule.index_weekdays is None or weekday in rule.index_weekdays):
                    mask |= bit
            if len(self._day_masks) >= self._MAX_CACHED_DAYS:
                self._day_masks.clear()
            self._day_masks[day] = mask
        return mask

    def candidate_bits(self, s: FactSnapshot) -> int:
        return (self.open_on(s.today, s.weekday)
                & self.by_store.get(s.store_code, self.any_store)
                & self.by_kind.get(s.store_kind, self.any_kind)
                & self.by_tier.get(s.tier, self.any_tier)
                & self.by_group.get(s.group, self.any_group))

    def candidates(self, s: FactSnapshot) -> tuple[tuple, ...]:
        """(predicate, limits, stop, rule) of the rules that may match, in evaluation order.

        Remembered per (day, store, tier, group account): a till rings up many members
        of few tiers on one day, so nearly every purchase finds its list ready. When no
        rule is scoped to a group account, a member's account cannot change the list and
        is left out of the key.
        """
        key = (s.today, s.store_code, s.store_kind, s.tier, s.group if self.by_group else None)
        found = self._lists.get(key)
        if found is None:
            bits = self.candidate_bits(s)
            # Many keys share one list (group accounts few rules name, stores with the
            # same promotions): keep each distinct list once.
            found = self._lists_by_bits.get(bits)
            if found is None:
                entries, found, rest = self._entries, [], bits
                while rest:
                    lowest = rest & -rest
                    found.append(entries[lowest.bit_length() - 1])
                    rest ^= lowest
                found = tuple(found)
                if len(self._lists_by_bits) >= self._MAX_CACHED_LISTS:
                    self._lists_by_bits.clear()
                self._lists_by_bits[bits] = found
            if len(self._lists) >= self._MAX_CACHED_LISTS:
                self._lists.clear()
            self._lists[key] = found
        return found

