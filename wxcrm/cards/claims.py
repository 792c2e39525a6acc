"""Scan-to-earn: a purchase rung up without a member prints a claim QR on its receipt; a
customer who scans it in WeChat claims that purchase's points for their card.

``cards`` resolves claims: it offers one for a member-less purchase, finds and locks it,
and says whether it may still be claimed (once, before it expires, within the per-member
and per-store limits). Crediting the points is ``checkout.claims``' work.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm.cards.models import PurchaseClaim
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError, NotFound

# A member claims at most this many receipts in 24 hours, and at most this many from one store.
CLAIMS_PER_MEMBER_PER_DAY = 5
CLAIMS_PER_MEMBER_AT_ONE_STORE_PER_DAY = 2


class ClaimRefused(DomainError):
    status = 409


def claim_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/h5/claim/{token}"


def offer_claim(session: Session, settings: Settings, *, transaction_id: int, store_id: int,
                now: datetime) -> PurchaseClaim:
    """A claim for a purchase posted without a member: one INSERT, at the sale's own flush."""
    claim = PurchaseClaim(transaction_id=transaction_id, token=secrets.token_urlsafe(12), store_id=store_id,
                          created_at=now, expires_at=now + timedelta(hours=settings.claim_hours))
    session.add(claim)
    return claim


def find_claim(session: Session, token: str) -> PurchaseClaim:
    claim = session.scalar(select(PurchaseClaim).where(PurchaseClaim.token == (token or "")[:32]))
    if claim is None:
        raise NotFound(N_("this receipt code is not known"), code="claim_not_found")
    return claim


def claim_for_transaction(session: Session, transaction_id: int) -> PurchaseClaim | None:
    return session.scalar(select(PurchaseClaim).where(PurchaseClaim.transaction_id == transaction_id))


def claimed_net_fen(session: Session, transaction_id: int) -> int | None:
    """What was left of a claimed purchase (net fen) when it was claimed; None when it was
    not claimed (or claimed before this was kept). The caller holds the purchase's lock."""
    return session.scalar(select(PurchaseClaim.net_fen).where(PurchaseClaim.transaction_id == transaction_id,
                                                              PurchaseClaim.member_id.is_not(None))
                          .with_for_update())    # a locking read: the claim committed just now counts


def lock_open_claim(session: Session, token: str, *, member_id: int, now: datetime) -> PurchaseClaim:
    """The claim, locked, if ``member_id`` may claim it now; refused (with why) otherwise."""
    found = find_claim(session, token)
    claim = session.scalar(select(PurchaseClaim).where(PurchaseClaim.id == found.id).with_for_update()
                           .execution_options(populate_existing=True))
    if claim.member_id is not None:
        raise ClaimRefused(N_("the points of this receipt were already claimed"), code="claim_used")
    if now >= claim.expires_at:
        raise ClaimRefused(N_("this receipt code has expired"), code="claim_expired")
    since = now - timedelta(hours=24)
    mine = select(func.count(PurchaseClaim.id)).where(PurchaseClaim.member_id == member_id,
                                                      PurchaseClaim.claimed_at > since)
    if session.scalar(mine) >= CLAIMS_PER_MEMBER_PER_DAY:
        raise ClaimRefused(N_("you have claimed as many receipts as a day allows: try again tomorrow"),
                           code="claim_member_limit", status=429)
    if session.scalar(mine.where(PurchaseClaim.store_id == claim.store_id)) >= CLAIMS_PER_MEMBER_AT_ONE_STORE_PER_DAY:
        raise ClaimRefused(N_("you have claimed as many receipts from this store as a day allows"),
                           code="claim_store_limit", status=429)
    return claim


def mark_claimed(session: Session, claim: PurchaseClaim, *, member_id: int, points: int, now: datetime,
                 net_fen: int) -> None:
    claim.member_id, claim.points, claim.claimed_at, claim.net_fen = member_id, points, now, net_fen
    session.flush()
