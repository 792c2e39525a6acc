"""Segments and campaigns: save a segment, create a campaign (segment, message, start time,
control group), queue it set-based, pause, resume, and report on it.

Queuing a campaign:
1. its members are chosen once, in one INSERT ... SELECT over the segment (active members
   with marketing consent, not yet chosen), each put in the control group by a hash of the
   campaign and member ids (random, yet the same on a rerun);
2. the target group is queued through ``outbox.enqueue_many`` ten thousand at a time, keyed
   ``campaign:{id}:m{member}``: nobody gets the same campaign twice, and WeChat's rules
   (mass sends four a member a month, customer service only in a window, SMS templates)
   choose each member's channel;
3. the dispatcher sends at the configured rate, never in quiet hours.
Pausing holds the campaign's queued messages ("held"); resuming puts them back.
"""
from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, insert, literal, select, update
from sqlalchemy.orm import Session

from wxcrm.campaigns import coupons, segments
from wxcrm.campaigns.models import Campaign, CampaignMember, Segment
from wxcrm.config import Settings
from wxcrm.coupons.models import CouponTemplate
from wxcrm.errors import DomainError, NotFound
from wxcrm.members.models import Member
from wxcrm.messages import outbox
from wxcrm.messages.kinds import KINDS
from wxcrm.messages.models import OutboxMessage
from wxcrm.sales.models import Transaction
from wxcrm.sales.queries import signed_payable
from wxcrm.timeutil import business_date, to_local

# marketing (consent, quiet hours, never a template message), and the service notice (a
# template message, to every member of the segment: e.g. a store's new opening hours)
MESSAGE_PURPOSES = ("campaign", "campaign_wechat", "campaign_sms", "service_notice")
NOTICE_TITLE_LIMIT = 20
CHUNK = 1000


# ---------------------------------------------------------------- segments

def save_segment(session: Session, *, name: str, filters, staff_id: int | None = None,
                 segment_id: int | None = None) -> Segment:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise DomainError("a segment needs a name", code="segment_name", fields={"name": "required"})
    clean = segments.validate(filters)
    if segment_id:
        segment = session.get(Segment, segment_id)
        if segment is None:
            raise NotFound(f"no segment {segment_id}", code="segment_not_found")
        segment.name, segment.filters = name, clean
    else:
        segment = Segment(name=name, filters=clean, created_by=staff_id)
        session.add(segment)
    session.flush()
    return segment


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")
    return segment


# ---------------------------------------------------------------- campaigns

def create_campaign(session: Session, settings: Settings, *, name: str, segment_id: int, text: str,
                    purpose: str = "campaign", start_at: datetime | None = None, control_pct: int = 0,
                    coupon_template_id: int | None = None, staff_id: int | None = None,
                    now: datetime) -> Campaign:
    get_segment(session, segment_id)
    name, text = (name or "").strip(), (text or "").strip()
    if not name or len(name) > 120:
        raise DomainError("a campaign needs a name", code="campaign_name", fields={"name": "required"})
    if not text or len(text) > outbox.TEXT_LIMIT:
        raise DomainError("the message needs 1 to 600 characters", code="campaign_text", fields={"text": "invalid"})
    if purpose not in MESSAGE_PURPOSES:
        raise DomainError("unknown message kind", code="campaign_purpose", fields={"purpose": "invalid"})
    if not KINDS[purpose].marketing and len(text) > NOTICE_TITLE_LIMIT:
        raise DomainError("a service notice is 20 characters or fewer", code="notice_text", fields={"text": "invalid"})
    if not 0 <= int(control_pct) <= 50:
        raise DomainError("the control group is 0..50 %", code="campaign_control", fields={"control_pct": "invalid"})
    if coupon_template_id:
        if not KINDS[purpose].marketing:
            raise DomainError("a service notice carries no coupon", code="notice_coupon",
                              fields={"coupon_template_id": "invalid"})
        coupon_template_id = coupons.check_template(session, coupon_template_id).id
    campaign = Campaign(name=name, segment_id=segment_id, filters=[], purpose=purpose, text=text,
                        start_at=start_at or now, control_pct=int(control_pct), coupon_template_id=coupon_template_id,
                        status="scheduled", counts={}, created_by=staff_id, created_at=now)
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", code="campaign_not_found")
    return campaign


def key_prefix(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


def _of_campaign(campaign_id: int):
    """The campaign's outbox rows (a prefix of the unique dedup_key index)."""
    return OutboxMessage.dedup_key.like(key_prefix(campaign_id) + ":m%")


def choose_members(session: Session, settings: Settings, campaign: Campaign, now: datetime) -> dict:
    """Step 1: one INSERT ... SELECT of the segment's marketable members not yet chosen, with
    their control-group draw."""
    today = business_date(settings.tz, now)
    segment = get_segment(session, campaign.segment_id)
    campaign.filters = segment.filters
    ids = segments.member_ids_query(session, segment.filters, today)
    if KINDS[campaign.purpose].marketing:        # marketing needs consent; a service notice does not
        ids = ids.where(Member.marketing_consent.is_(True))
    ids = ids.subquery()
    # a multiplicative hash of (member, campaign): uniform enough for a control group, and the same on a rerun
    draw = ((ids.c.id + campaign.id * 7919) * 2654435761) % 4294967296 % 100
    control = case((draw < campaign.control_pct, True), else_=False) if campaign.control_pct else literal(False)
    chosen = select(literal(campaign.id), ids.c.id, control)
    if session.scalar(select(CampaignMember.id).where(CampaignMember.campaign_id == campaign.id).limit(1)):
        # a rerun: only the members not chosen yet (the first time, none is: no anti-join to pay for)
        chosen = chosen.where(~select(CampaignMember.id).where(CampaignMember.campaign_id == campaign.id,
                                                               CampaignMember.member_id == ids.c.id).exists())
    session.execute(insert(CampaignMember).from_select(["campaign_id", "member_id", "control"], chosen))
    session.flush()
    rows = dict(session.execute(select(CampaignMember.control, func.count()).where(
        CampaignMember.campaign_id == campaign.id).group_by(CampaignMember.control)).all())
    return {"target": int(rows.get(False, 0)), "control": int(rows.get(True, 0))}


FIRST_BATCH = 2_000        # messages written when a campaign starts (the rest by the campaigns job)
BATCH = 10_000             # messages a feed writes at a time (one mass send's worth)
FEED_SECONDS = 30          # how long one pass of the campaigns job may feed


def queue(session: Session, settings: Settings, campaign: Campaign, now: datetime, *,
          first_batch: int | None = FIRST_BATCH) -> dict:
    """Start the campaign: choose its members (one INSERT ... SELECT, control group drawn)
    and write the first messages to the outbox; the campaigns job feeds the rest, a batch
    at a time, at the pace the dispatcher sends (``first_batch=None``: all now). A rerun
    chooses and queues only members not yet chosen or queued. The caller commits."""
    if campaign.status in ("done", "cancelled"):
        raise DomainError("the campaign is over", code="campaign_over")
    groups = choose_members(session, settings, campaign, now)
    campaign.counts = {**(campaign.counts or {}), **groups}
    if campaign.status != "paused":
        campaign.status = "sending"
    campaign.queued_at = campaign.queued_at or now
    session.flush()
    feed(session, settings, campaign, now, limit=first_batch)
    return campaign.counts


def feed(session: Session, settings: Settings, campaign: Campaign, now: datetime, *,
         limit: int | None = BATCH) -> int:
    """Write the next ``limit`` target members' messages to the outbox (``outbox.enqueue_many``
    chooses each member's channel by WeChat's rules and takes their monthly mass send), in
    member order from the campaign's cursor; the campaign is done when none is left. The
    campaign row is locked, so two feeders never write the same batch."""
    session.execute(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
    session.refresh(campaign)
    if campaign.status != "sending":
        return 0
    # the batch, with what the outbox needs of each member (and whether they are queued
    # already: a feed that died half-way), in one statement
    stmt = outbox.recipients(campaign.purpose, now, key_prefix(campaign.id)) \
        .join(CampaignMember, CampaignMember.member_id == Member.id).where(
        CampaignMember.campaign_id == campaign.id, CampaignMember.control.is_(False),
        CampaignMember.member_id > (campaign.fed_through or 0)).order_by(CampaignMember.member_id)
    people = session.connection().execute(stmt.limit(limit) if limit else stmt).all()   # Core: plain rows
    ids = [p[0] for p in people]
    counts = dict(campaign.counts or {})
    if ids:
        fields = None if KINDS[campaign.purpose].marketing else {
            "title": campaign.text, "date": to_local(campaign.start_at, settings.tz).strftime("%Y-%m-%d %H:%M")}
        batches = [(campaign.text, fields, people)]
        if campaign.coupon_template_id:
            # the coupon first: the members who hold it get the words that name it
            issued = coupons.issue(session, settings, template_id=campaign.coupon_template_id, member_ids=ids,
                                   ref=key_prefix(campaign.id), now=now)
            counts["coupons"] = counts.get("coupons", 0) + issued.issued
            if issued.out_of_stock:
                counts["coupons_out_of_stock"] = counts.get("coupons_out_of_stock", 0) + issued.out_of_stock
            holders = set(issued.holders)
            text, sms_text = coupons.wording(session.get(CouponTemplate, campaign.coupon_template_id), campaign.text)
            batches = [(text, {"sms_text": sms_text}, [p for p in people if p[0] in holders]),
                       (campaign.text, fields, [p for p in people if p[0] not in holders])]
        for text, extra, some in batches:
            if not some:
                continue
            found = outbox.enqueue_many(session, settings, purpose=campaign.purpose, text=text, people=some,
                                        fields=extra, dedup_prefix=key_prefix(campaign.id), now=now)
            for k, v in found.items():
                counts[k] = counts.get(k, 0) + v
        counts["queued"] = sum(counts.get(k, 0) for k in ("template", "custom", "mass", "sms"))
        campaign.fed_through = ids[-1]
    if not ids or (limit and len(ids) < limit):
        campaign.status, campaign.finished_at = "done", now
    campaign.counts = counts
    session.flush()
    return len(ids)


def feed_running(session: Session, settings: Settings, *, now: datetime, seconds: float = FEED_SECONDS) -> int:
    """The campaigns job: feed every sending campaign, a batch at a time (each committed),
    for at most ``seconds``."""
    import time
    deadline = time.monotonic() + seconds
    written = 0
    for campaign_id in list(session.scalars(select(Campaign.id).where(Campaign.status == "sending")
                                            .order_by(Campaign.id))):
        while time.monotonic() < deadline:
            n = feed(session, settings, session.get(Campaign, campaign_id), now, limit=BATCH)
            session.commit()
            written += n
            if not n:
                break
    return written


def start_due(session: Session, settings: Settings, *, now: datetime) -> list[dict]:
    """The campaigns whose start time has come: queue each (committed one by one)."""
    started = []
    for campaign_id in list(session.scalars(select(Campaign.id).where(Campaign.status == "scheduled",
                                                                      Campaign.start_at <= now))):
        won = session.execute(update(Campaign).where(Campaign.id == campaign_id, Campaign.status == "scheduled")
                              .values(status="sending").execution_options(synchronize_session=False)).rowcount
        session.commit()
        if not won:
            continue        # another runner took it
        campaign = session.get(Campaign, campaign_id)
        started.append(queue(session, settings, campaign, now))
        session.commit()
    return started


def send_now(session: Session, settings: Settings, campaign_id: int, *, now: datetime,
             first_batch: int | None = FIRST_BATCH) -> dict:
    campaign = get_campaign(session, campaign_id)
    if campaign.status != "scheduled":
        raise DomainError("only a scheduled campaign can start", code="campaign_not_scheduled")
    campaign.start_at = now
    campaign.status = "sending"
    return queue(session, settings, campaign, now, first_batch=first_batch)


def _hold(session: Session, campaign_id: int) -> int:
    return session.execute(update(OutboxMessage).where(_of_campaign(campaign_id), OutboxMessage.status == "pending")
                           .values(status="held").execution_options(synchronize_session=False)).rowcount


def pause(session: Session, campaign_id: int) -> int:
    """Hold the campaign's messages not yet sent; returns how many were held."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status not in ("scheduled", "sending", "done"):
        raise DomainError("only a scheduled or sending campaign can pause", code="campaign_not_running")
    campaign.status = "paused"
    held = _hold(session, campaign_id)
    session.flush()
    return held


def resume(session: Session, campaign_id: int, *, now: datetime) -> int:
    campaign = get_campaign(session, campaign_id)
    if campaign.status != "paused":
        raise DomainError("the campaign is not paused", code="campaign_not_paused")
    campaign.status = "scheduled" if not campaign.queued_at else "done" if campaign.finished_at else "sending"
    back = session.execute(update(OutboxMessage).where(_of_campaign(campaign_id), OutboxMessage.status == "held")
                           .values(status="pending", next_attempt_at=now)
                           .execution_options(synchronize_session=False)).rowcount
    session.flush()
    return back


def cancel(session: Session, campaign_id: int) -> int:
    """Stop for good: the messages not yet sent are parked (and give back their quota)."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status in ("done", "cancelled"):
        raise DomainError("the campaign is over", code="campaign_over")
    campaign.status = "cancelled"
    rows = list(session.scalars(select(OutboxMessage).where(_of_campaign(campaign_id),
                                                            OutboxMessage.status.in_(("pending", "held")))))
    from wxcrm.messages import fate
    for row in rows:
        outbox.park(session, row, fate.step("parked", "refused", row.channel, now_of(row), error="campaign cancelled"))
    session.flush()
    return len(rows)


def now_of(row: OutboxMessage) -> datetime:
    return row.next_attempt_at or row.created_at


# ---------------------------------------------------------------- report

def _mean_ci(values_t: list[float], n_t: int, values_c: list[float], n_c: int) -> tuple[float, float, float]:
    """Difference of means (target - control) over all members of each group (zeros for
    those who did nothing) and its 95 % confidence interval (Welch's normal approximation)."""
    def stats(values, n):
        if n == 0:
            return 0.0, 0.0
        total = sum(values)
        mean = total / n
        sq = sum(v * v for v in values)
        var = max(sq / n - mean * mean, 0.0) * n / max(n - 1, 1)
        return mean, var
    mt, vt = stats(values_t, n_t)
    mc, vc = stats(values_c, n_c)
    diff = mt - mc
    if n_t == 0 or n_c == 0:
        return diff, float("nan"), float("nan")
    half = 1.96 * math.sqrt(vt / n_t + vc / n_c)
    return diff, diff - half, diff + half


def report(session: Session, settings: Settings, campaign_id: int, *, now: datetime) -> dict:
    """Reached, failed and why, and the recipients' visits and spend against the control
    group's from the campaign's start to now (or the end of the window, 30 days)."""
    campaign = get_campaign(session, campaign_id)
    status_rows = session.execute(select(OutboxMessage.status, OutboxMessage.channel, func.count())
                                  .where(_of_campaign(campaign_id))
                                  .group_by(OutboxMessage.status, OutboxMessage.channel)).all()
    delivery = {"sent": 0, "pending": 0, "held": 0, "parked": 0, "sending": 0}
    by_channel: dict[str, int] = {}
    for status, channel, n in status_rows:
        delivery[status] = delivery.get(status, 0) + n
        if status == "sent":
            by_channel[channel] = by_channel.get(channel, 0) + n
    # why the parked ones could not go: grouped by the steps' codes (each with an example step,
    # so the console can say it in the page's language)
    why: dict[tuple, dict] = {}
    for history, reason in session.execute(select(OutboxMessage.history, OutboxMessage.reason).where(
            _of_campaign(campaign_id), OutboxMessage.status == "parked").limit(20_000)):
        steps = [e for e in (history or []) if e.get("event") in ("skipped", "moved", "parked")
                 and e.get("code") != "no_channel"]
        key = tuple(e.get("code") for e in steps)
        group = why.setdefault(key, {"steps": steps, "reason": reason or "", "count": 0})
        group["count"] += 1
    start = business_date(settings.tz, campaign.start_at)
    end = min(business_date(settings.tz, now), start + timedelta(days=30))
    per_member = (select(Transaction.member_id.label("member_id"),
                         func.sum(case((Transaction.kind == "purchase", 1), else_=0)).label("visits"),
                         func.sum(signed_payable()).label("spend"))
                  .where(Transaction.business_date >= start, Transaction.business_date <= end,
                         Transaction.member_id.is_not(None))
                  .group_by(Transaction.member_id)).subquery()
    rows = session.execute(select(CampaignMember.control, per_member.c.visits, per_member.c.spend)
                           .join(per_member, per_member.c.member_id == CampaignMember.member_id)
                           .where(CampaignMember.campaign_id == campaign_id)).all()
    sizes = dict(session.execute(select(CampaignMember.control, func.count()).where(
        CampaignMember.campaign_id == campaign_id).group_by(CampaignMember.control)).all())
    n_t, n_c = int(sizes.get(False, 0)), int(sizes.get(True, 0))
    groups = {}
    for name, control, n in (("target", False, n_t), ("control", True, n_c)):
        visits = [float(r.visits or 0) for r in rows if bool(r.control) == control]
        spend = [float(r.spend or 0) for r in rows if bool(r.control) == control]
        groups[name] = {"members": n, "buyers": sum(1 for v in visits if v > 0), "visits": int(sum(visits)),
                        "spend_fen": int(sum(spend)), "visits_per_member": (sum(visits) / n) if n else 0.0,
                        "spend_per_member_fen": (sum(spend) / n) if n else 0.0, "_v": visits, "_s": spend}
    uplift = {}
    for metric, key in (("visits_per_member", "_v"), ("spend_per_member_fen", "_s")):
        diff, low, high = _mean_ci(groups["target"][key], n_t, groups["control"][key], n_c)
        uplift[metric] = {"difference": diff, "ci95_low": low, "ci95_high": high}
    for g in groups.values():
        g.pop("_v"), g.pop("_s")
    coupon_figures = {"template_id": campaign.coupon_template_id, "issued": 0, "redeemed": 0, "without": 0}
    if campaign.coupon_template_id:
        found = coupons.counts(session, key_prefix(campaign.id))
        # the target members queued who got none (the stock ran out, their limit, closed)
        coupon_figures.update(issued=found["issued"], redeemed=found["used"],
                              without=max(sum(delivery.values()) - found["issued"], 0))
    return {"campaign": {"id": campaign.id, "name": campaign.name, "status": campaign.status,
                         "purpose": campaign.purpose, "start_at": campaign.start_at.isoformat(),
                         "control_pct": campaign.control_pct, "counts": campaign.counts},
            "window": {"from": start.isoformat(), "to": end.isoformat()},
            "delivery": delivery, "sent_by_channel": by_channel,
            "not_reached": sorted(why.values(), key=lambda g: -g["count"])[:10],
            "coupons": coupon_figures,
            "groups": groups, "uplift": uplift}


def report_csv(data: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    c = data["campaign"]
    w.writerow(["campaign", c["id"], c["name"], c["status"], c["start_at"]])
    w.writerow(["window", data["window"]["from"], data["window"]["to"]])
    w.writerow([])
    w.writerow(["delivery", *data["delivery"].keys()])
    w.writerow(["", *data["delivery"].values()])
    w.writerow(["sent by channel", *[f"{k}={v}" for k, v in data["sent_by_channel"].items()]])
    w.writerow([])
    w.writerow(["group", "members", "buyers", "visits", "spend_fen", "visits_per_member", "spend_per_member_fen"])
    for name, g in data["groups"].items():
        w.writerow([name, g["members"], g["buyers"], g["visits"], g["spend_fen"], f"{g['visits_per_member']:.4f}",
                    f"{g['spend_per_member_fen']:.2f}"])
    w.writerow([])
    w.writerow(["uplift", "difference", "ci95_low", "ci95_high"])
    for metric, u in data["uplift"].items():
        w.writerow([metric, f"{u['difference']:.4f}", f"{u['ci95_low']:.4f}", f"{u['ci95_high']:.4f}"])
    w.writerow([])
    if data["coupons"]["template_id"]:
        w.writerow(["coupons issued", "coupons used", "recipients without a coupon"])
        w.writerow([data["coupons"]["issued"], data["coupons"]["redeemed"], data["coupons"]["without"]])
        w.writerow([])
    w.writerow(["not reached: reason", "count"])
    for r in data["not_reached"]:
        w.writerow([r["reason"], r["count"]])
    return out.getvalue()


def is_marketing(purpose: str) -> bool:
    return KINDS[purpose].marketing


def local_start(settings: Settings, campaign: Campaign) -> datetime:
    return to_local(campaign.start_at, settings.tz)


def day_of(settings: Settings, now: datetime) -> date:
    return business_date(settings.tz, now)
