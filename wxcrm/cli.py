"""`flask --app wsgi wxcrm ...` commands. Each is a thin wrapper over a service."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db

wxcrm_cli = AppGroup("wxcrm", help="wxcrm administration.")


def init_app(app: Flask) -> None:
    app.cli.add_command(wxcrm_cli)


def _fail(exc: DomainError) -> None:
    db.session.rollback()
    click.echo(f"error: {exc.detail}", err=True)
    sys.exit(2)


@wxcrm_cli.command("check-config")
def check_config() -> None:
    """List every setting production refuses (and warnings); exit 1 if production would not start."""
    from wxcrm import production_problems
    from wxcrm.config import settings_warnings

    app = current_app._get_current_object()
    env = app.config["WXCRM_ENV"]
    warnings: list[str] = []
    problems = production_problems(app, warn=warnings.append)
    warnings += settings_warnings(app.config)
    for problem in problems:
        click.echo(f"unsafe  {problem}")
    for warning in warnings:
        click.echo(f"warning {warning}")
    enforced = "refused" if env not in ("development", "test") else f"not enforced (WXCRM_ENV={env})"
    if problems:
        click.echo(f"check-config: {len(problems)} unsafe setting(s); in production they are {enforced}", err=True)
        sys.exit(1)
    click.echo("check-config: production would start")


@wxcrm_cli.command("init-db")
def init_db() -> None:
    """Migrate the database to the newest schema (Alembic head)."""
    from flask_migrate import upgrade

    from wxcrm.rules.storage import earning_rules, rule_json
    from wxcrm.rules.wording import rate_words
    upgrade()
    click.echo(f"database at head: {current_app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")
    # Say what earns points: a new install starts with the base earning rule (migration 0004).
    earning = earning_rules(db.session)
    for rule in earning:
        rates = ", ".join(rate_words(a)[1] for a in rule_json(rule)["actions"] if a["type"] == "earn_points")
        click.echo(f"purchases earn points by rule #{rule.id} {rule.name} ({rates})")
    if not earning:
        click.echo("no live rule earns points on purchases: purchases earn no points (see /console/rules)")
    db.session.rollback()


@wxcrm_cli.command("seed-demo")
@click.option("--members", "member_count", default=300, show_default=True)
@click.option("--days", default=120, show_default=True, help="Days of purchase history to make.")
@click.option("--seed", default=7, show_default=True)
@click.option("--transactions", default=None, type=int,
              help="Write this many transactions in bulk (a data set at scale, e.g. 1000000 for 100000 members) "
                   "over the last --days (default then 760), instead of ringing up the demo history at the till.")
@click.option("--parts", default=1, show_default=True, type=click.IntRange(1, 16),
              help="With --transactions on MariaDB/MySQL: write the history in this many processes side by side.")
def seed_demo(member_count: int, days: int, seed: int, transactions: int | None, parts: int) -> None:
    """Load demo stores, staff, tiers, members and purchases (once)."""
    from wxcrm import demo
    settings = current_settings()
    if transactions is None:
        from wxcrm.analytics import rollup
        logins = demo.seed(db.session, settings, members=member_count, days=days, seed=seed)
        db.session.commit()
        rollup.roll_up(db.session, settings, lag_seconds=0, commit=db.session.commit)  # the reports have data at once
    else:
        from wxcrm.analytics import bulk, rollup
        from wxcrm.members.models import Member
        if db.session.scalar(select(Member.id).limit(1)) is not None:
            raise click.ClickException("the database already has members: the bulk data set needs an empty one")
        logins = demo.seed(db.session, settings, members=0, days=1, seed=seed)
        db.session.commit()
        history_days = days if days != 120 else 760
        # The history is added up for the reports as it is written (the roll-up's own code, on
        # the rows in memory), and the rollups written at the end: nothing is read back.
        rollup.roll_up(db.session, settings, lag_seconds=0, commit=db.session.commit)
        if parts > 1 and db.session.get_bind().dialect.name in ("mysql", "mariadb"):
            _seed_in_parts(settings, members=member_count, transactions=transactions, days=history_days, seed=seed,
                           parts=parts)
        else:
            totals = rollup.Totals(settings.tz)
            with click.progressbar(length=member_count, label="members and their history") as bar:
                done = 0
                for written in bulk.seed_history(db.session, settings, members=member_count,
                                                 transactions=transactions, days=history_days, seed=seed,
                                                 totals=totals):
                    db.session.commit()
                    bar.update(written - done)
                    done = written
            click.echo("writing the report rollups")
            totals.write(db.session, empty=rollup.is_empty(db.session))
            db.session.commit()
    for role, username, password in logins:
        click.echo(f"  {role:<9} {username} / {password}")


def _seed_in_parts(settings, *, members: int, transactions: int, days: int, seed: int, parts: int) -> None:
    """``seed-demo --parts N``: N processes each write a share of the members and their history
    in its own id blocks, add it up for the reports, and add that into the rollups one part at
    a time; then the watermarks move past all of it."""
    import multiprocessing
    import queue

    from wxcrm.analytics import bulk, rollup
    from wxcrm.ledger.models import LedgerEntry
    from wxcrm.members.service import reserve_card_numbers
    from wxcrm.sales.models import Transaction
    plans = bulk.plan_parts(db.session, members=members, transactions=transactions, seed=seed, parts=parts)
    cards = reserve_card_numbers(db.session, settings.card_prefix, members)
    db.session.commit()
    ctx = multiprocessing.get_context("spawn")
    progress, write_lock = ctx.Queue(), ctx.Lock()
    procs = [ctx.Process(target=_seed_part, args=(part, parts, plans[part], cards, members, transactions, days, seed,
                                                   progress, write_lock)) for part in range(parts)]
    for proc in procs:
        proc.start()
    done = [0] * parts
    with click.progressbar(length=members, label=f"members and their history ({parts} parts)") as bar:
        while any(proc.is_alive() for proc in procs) or not progress.empty():
            try:
                part, written = progress.get(timeout=1)
            except queue.Empty:   # a part is between chunks
                continue
            bar.update(written - done[part])
            done[part] = written
    for proc in procs:
        proc.join()
    if any(proc.exitcode for proc in procs):
        raise click.ClickException("a part failed: the data set is incomplete (start again on an empty database)")
    db.session.rollback()
    rollup.move_watermarks(db.session, sales=db.session.scalar(select(db.func.max(Transaction.id))) or 0,
                           ledger=db.session.scalar(select(db.func.max(LedgerEntry.id))) or 0)
    db.session.commit()


def _seed_part(part, parts, bases, cards, members, transactions, days, seed, progress, write_lock) -> None:
    from wxcrm import create_app
    from wxcrm.analytics import bulk, rollup
    app = create_app()
    with app.app_context():
        settings = current_settings()
        totals = rollup.Totals(settings.tz)
        for written in bulk.seed_history(db.session, settings, members=members, transactions=transactions, days=days,
                                         seed=seed, totals=totals, part=part, parts=parts, bases=bases, cards=cards):
            db.session.commit()
            progress.put((part, written))
        with write_lock:   # the parts' rollup cells overlap: added in one at a time
            totals.write(db.session, empty=False, new_members=True, marks=False)
            db.session.commit()


@wxcrm_cli.command("rollup")
@click.option("--rebuild", is_flag=True, help="Throw the rollups away and add them up again from the raw tables.")
def rollup_command(rebuild: bool) -> None:
    """Bring the report rollups up to date (what the analytics-rollup job does), or rebuild them."""
    from wxcrm.analytics import rollup
    settings = current_settings()
    with click.progressbar(length=0, label="rows rolled up", show_pos=True, show_percent=False) as bar:
        step = rollup.rebuild if rebuild else rollup.roll_up
        total = step(db.session, settings, commit=db.session.commit, progress=bar.update)
    db.session.commit()
    click.echo(f"rolled up {total} rows")


@wxcrm_cli.command("import")
@click.argument("kind", type=click.Choice(["members", "points", "stored-value", "transactions"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every row and list the bad ones; write nothing.")
def import_command(kind: str, path: str, dry_run: bool) -> None:
    """Import members, points (lots with expiry), stored value or past transactions from CSV or XLSX."""
    from wxcrm.analytics import imports
    settings = current_settings()
    rows = list(imports.read_rows(path))
    try:
        with click.progressbar(length=len(rows), label=("checking " if dry_run else "importing ") + kind) as bar:
            report = imports.run_import(db.session, settings, kind, iter(rows), dry_run=dry_run, progress=bar.update,
                                        commit=db.session.commit)
    except DomainError as exc:
        db.session.rollback()
        click.echo(f"error: {exc.detail % exc.params if exc.params else exc.detail}", err=True)
        sys.exit(2)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for bad in report.bad:
        click.echo(f"  line {bad.line}: {bad.reason % bad.params if bad.params else bad.reason}")
    verb = "would import" if dry_run else "imported"
    click.echo(f"{kind}: {report.rows} rows, {verb} {report.imported}, already imported {report.already}, "
               f"bad {len(report.bad)}")
    if report.bad:
        sys.exit(1)


@wxcrm_cli.command("store-create")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(["direct", "franchise"]), default="direct", show_default=True)
@click.option("--address", default="")
@click.option("--city", default="")
def store_create(code: str, name: str, kind: str, address: str, city: str) -> None:
    """Add a store (direct or franchise)."""
    from wxcrm.members import service
    try:
        store = service.create_store(db.session, code=code, name=name, kind=kind, address=address, city=city)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"store {store.code} ({store.kind}) created")


@wxcrm_cli.command("staff-create")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "marketer", "cashier", "manager"]), required=True)
@click.option("--store", "store_code", default=None, help="Store code (required for cashiers).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def staff_create(username: str, role: str, store_code: str | None, password: str) -> None:
    """Add a staff member who can sign in to the console or the till (cashiers and managers need --store)."""
    from wxcrm.members import service
    try:
        staff = service.create_staff(db.session, username=username, password=password, role=role,
                                     store_code=store_code)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"staff {staff.username} ({staff.role}) created")


@wxcrm_cli.command("token-create")
@click.argument("username")
@click.option("--name", default="", help="What the token is for, e.g. 'POS S001 till 2'.")
def token_create(username: str, name: str) -> None:
    """Print a new bearer token for a staff member (shown once; only its hash is kept)."""
    from sqlalchemy import select

    from wxcrm.members import service
    from wxcrm.members.models import Staff
    staff = db.session.scalar(select(Staff).where(Staff.username == username.lower()))
    if staff is None:
        click.echo(f"error: no staff {username}", err=True)
        sys.exit(2)
    token = service.create_token(db.session, staff, name)
    db.session.commit()
    click.echo(token)


@wxcrm_cli.command("audit")
def audit() -> None:
    """Recompute every balance from its entries; exit 1 naming any account that differs."""
    from wxcrm.ledger import service
    bad = service.audit(db.session)
    if bad:
        for d in bad:
            click.echo(f"account {d.account_id} member {d.member_id} {d.kind}: cached {d.cached}, "
                       f"entries {d.entries_sum}, lots {d.lots_sum}: {d.problem}", err=True)
        click.echo(f"audit: {len(bad)} account(s) differ", err=True)
        sys.exit(1)
    from sqlalchemy import func, select

    from wxcrm.ledger.models import LedgerAccount
    click.echo(f"audit: {db.session.scalar(select(func.count(LedgerAccount.id)))} accounts, all balances match")


@wxcrm_cli.command("stored-value-liability")
@click.option("--date", "on", default=None, help="As at the end of this business date (YYYY-MM-DD); default today.")
def stored_value_liability(on: str | None) -> None:
    """Unspent stored value (principal and bonus apart) per owner and store of issue."""
    from datetime import date

    from wxcrm.money import fen_to_yuan_str
    from wxcrm.timeutil import business_date
    from wxcrm.topups.settlement import liability
    settings = current_settings()
    rows = liability(db.session, date.fromisoformat(on) if on else business_date(settings.tz), settings)
    for r in rows:
        click.echo(f"{r['owner_name']}\t{r['store_code'] or '-'}\tprincipal {fen_to_yuan_str(r['principal_fen'])}"
                   f"\tbonus {fen_to_yuan_str(r['bonus_fen'])}")
    click.echo(f"total principal {fen_to_yuan_str(sum(r['principal_fen'] for r in rows))} "
               f"bonus {fen_to_yuan_str(sum(r['bonus_fen'] for r in rows))}")


@wxcrm_cli.command("settlement")
@click.option("--period", required=True, help="The month, YYYY-MM (merchant time).")
@click.option("--close", is_flag=True, help="Freeze the month's lines (months close in order, after they end).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the lines as CSV.")
def settlement_cmd(period: str, close: bool, as_csv: bool) -> None:
    """What owners owe one another for stored value spent at each other's stores in a month."""
    from wxcrm.timeutil import utcnow
    from wxcrm.topups import settlement
    settings = current_settings()
    try:
        if close:
            settlement.close_period(db.session, period, settings, now=utcnow(), staff_id=None)
            db.session.commit()
        lines = settlement.settlement_lines(db.session, period, settings)
    except DomainError as exc:
        _fail(exc)
    if as_csv:
        click.echo(settlement.export_csv(lines), nl=False)
        return
    for line in lines:
        click.echo(f"{line['debtor_name']} owes {line['creditor_name']}: {line['total_fen']} fen "
                   f"(principal {line['principal_fen']}, bonus {line['bonus_fen']}; {len(line['transactions'])} sales)")
    click.echo(f"settlement {period}: {len(lines)} line(s){' (closed)' if close else ''}")


@wxcrm_cli.command("jobs-run")
@click.argument("name")
@click.option("--date", "on", default=None, help="Business date (YYYY-MM-DD): run that day only. Default: every "
                                                 "day since the last finished run, to today.")
def jobs_run(name: str, on: str | None) -> None:
    """Run a scheduled job now (the same as the scheduler and the console's jobs page do),
    recorded with its counts. Idempotent: running it twice queues and gives nothing twice."""
    from datetime import date

    from wxcrm.jobs.runner import job_named, run_day, run_due
    from wxcrm.timeutil import business_date
    settings = current_settings()
    try:
        job = job_named(name)
    except DomainError as exc:
        _fail(exc)
    today = business_date(settings.tz)
    if on:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            raise click.BadParameter("YYYY-MM-DD", param_hint="--date") from None
        runs = [run_day(db.session, settings, job, day, today=max(today, day), trigger="cli-day", started_by="cli")]
    else:
        runs = run_due(db.session, settings, job, today=today, trigger="cli", started_by="cli")
    failed = False
    for run in runs:
        counts = ", ".join(f"{k}={v}" for k, v in run.counts.items()) or "nothing to do"
        click.echo(f"{job.id} {run.business_date.isoformat()}: {run.status}: {run.error or counts}")
        failed |= run.status == "failed"
    if failed:
        sys.exit(1)


@wxcrm_cli.command("jobs-list")
def jobs_list() -> None:
    """The scheduled jobs, each with its last run."""
    from wxcrm.jobs.registry import JOBS
    from wxcrm.jobs.runner import last_runs
    last = last_runs(db.session)
    for job in JOBS:
        run = last.get(job.id)
        when = f"last {run.business_date.isoformat()} {run.status}" if run else ("continuous" if not job.dated
                                                                                   else "never run")
        click.echo(f"{job.id:<18} {when:<28} {job.description}")


@wxcrm_cli.command("expire-points", hidden=True)
@click.option("--date", "on", default=None, help="Business date (YYYY-MM-DD); default today.")
def expire_points(on: str | None) -> None:
    """Expire points lots whose last day has passed."""
    from datetime import date

    from wxcrm.ledger import service
    from wxcrm.timeutil import business_date
    today = date.fromisoformat(on) if on else business_date(current_settings().tz)
    points = service.expire_points(db.session, today, job_run=f"cli:{today.isoformat()}")
    db.session.commit()
    click.echo(f"expired {points} points before {today.isoformat()}")


@wxcrm_cli.command("rules-backtest")
@click.option("--days", default=30, show_default=True, help="Replay this many days of purchases.")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A draft rule set (JSON list, or {\"rules\": [...]}); default: the live rules plus every draft.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def rules_backtest(days: int, path: str | None, as_json: bool) -> None:
    """What a draft rule set would have given over the last N days, beside the live one. Writes nothing."""
    import json

    from wxcrm.money import fen_to_yuan_str
    from wxcrm.rules.backtest import run_backtest
    from wxcrm.timeutil import business_date
    draft = None
    if path:
        with open(path, encoding="utf-8") as fh:
            loaded = json.load(fh)
        draft = loaded["rules"] if isinstance(loaded, dict) else loaded
    settings = current_settings()
    try:
        from datetime import timedelta

        from wxcrm.topups.service import topup_events
        today = business_date(settings.tz)
        report = run_backtest(db.session, settings, days=days, today=today, draft_rules=draft,
                              topups=topup_events(db.session, since=today - timedelta(days=days - 1)))
    except DomainError as exc:
        _fail(exc)
    db.session.rollback()  # read only
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"backtest {report['from']} .. {report['to']}: {report['purchases']} member purchases, "
               f"{report['topups']} top-ups")
    for name in ("live", "draft"):
        totals = report[name]
        click.echo(f"\n{name}: points {totals['points']}, discounts {fen_to_yuan_str(totals['discount_fen'])} yuan, "
                   f"coupons {totals['coupons']}, members touched {totals['members']}")
        for r in totals["rules"]:
            click.echo(f"  #{r['rule_id']:<5} {r['rule'][:28]:<28} purchases {r['purchases']:>6}  points {r['points']:>8}"
                       f"  discount {fen_to_yuan_str(r['discount_fen']):>10}  coupons {r['coupons']:>4}"
                       f"  members {r['members']:>5}")
    d = report["difference"]
    click.echo(f"\ndraft - live: points {d['points']:+d}, discounts {fen_to_yuan_str(d['discount_fen'])} yuan, "
               f"coupons {d['coupons']:+d}")


@wxcrm_cli.command("rules-run", hidden=True)
@click.option("--event", type=click.Choice(["birthday", "membership_expiry", "schedule"]), required=True)
@click.option("--date", "on", default=None, help="Business date (YYYY-MM-DD); default today.")
def rules_run(event: str, on: str | None) -> None:
    """Run a member event's rules now for every due member (a manual, one-off run).
    Members already handled for that date are skipped, so running it twice is safe."""
    from datetime import date

    from wxcrm.jobs.tasks import run_daily_event
    from wxcrm.timeutil import business_date
    settings = current_settings()
    today = business_date(settings.tz)
    day = date.fromisoformat(on) if on else today
    done = run_daily_event(db.session, settings, event, day, today=today)
    click.echo(f"{event} {day.isoformat()}: {done} member(s) handled")


@wxcrm_cli.command("tiers")
@click.option("--date", "on", default=None, help="Business date (YYYY-MM-DD); default today.")
def tiers(on: str | None) -> None:
    """Review tiers now, as the daily `tiers` job does: every month end not yet reviewed
    (down when the rolling 12-month spend fell below the threshold) and ended staff holds."""
    from datetime import date

    from wxcrm.jobs.tasks import run_tier_review
    from wxcrm.timeutil import business_date
    settings = current_settings()
    today = date.fromisoformat(on) if on else business_date(settings.tz)
    report = run_tier_review(db.session, settings, today=today)
    ends = ", ".join(report["month_ends"]) or "none due"
    click.echo(f"tiers: month ends reviewed: {ends}; {report['changed']} member(s) changed tier, "
               f"{report['holds_ended']} hold(s) ended")


@wxcrm_cli.command("outbox-drain")
@click.option("--passes", default=1, show_default=True, help="Passes to run (each claims one batch).")
def outbox_drain(passes: int) -> None:
    """Send due outbox messages once (the scheduler does this every few seconds)."""
    from wxcrm.jobs.outbox import drain
    from wxcrm.messages.outbox import status_counts
    settings = current_settings()
    for _ in range(passes):
        report = drain(db.session, settings)
        click.echo(f"outbox: {report}")
        for error in report.errors:
            click.echo(f"  {error}", err=True)
        if not report.claimed:
            break
    counts = status_counts(db.session)
    click.echo("queue: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) if counts else "queue: empty")


@wxcrm_cli.command("wechat-menu")
@click.option("--dry-run", is_flag=True, help="Print the menu without publishing it.")
def wechat_menu(dry_run: bool) -> None:
    """Publish the account's menu (from WXCRM_WECHAT_MENU, or card/points/coupons)."""
    import json

    from wechatpy.exceptions import WeChatClientException

    from wxcrm.wechat.adapter.client import wechat_client
    from wxcrm.wechat.adapter.menu import menu_from_settings, publish_menu
    settings = current_settings()
    try:
        menu = menu_from_settings(settings)
        if dry_run:
            click.echo(json.dumps(menu, ensure_ascii=False, indent=2))
            return
        publish_menu(wechat_client(settings, db.engine), menu)
    except DomainError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
    except WeChatClientException as exc:
        click.echo(f"error: WeChat said {exc.errcode}: {exc.errmsg}", err=True)
        sys.exit(1)
    click.echo(f"menu published ({len(menu['button'])} buttons)")


@wxcrm_cli.command("wechat-standin")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=None, type=int, help="Default: WXCRM_STANDIN_PORT (5001).")
@click.option("--tls-port", default=None, type=int, help="The HTTPS port (Pay refunds with the merchant's "
              "certificate). Default: the port + 1; 0: none.")
@click.option("--cert-dir", default=None, help="Where the test CA and the merchant certificate are kept "
              "(default: the instance folder's standin-certs).")
@click.option("--callback-url", default=None, help="wxcrm's callback (default: WXCRM_PUBLIC_URL/wechat/callback).")
def wechat_standin(host: str, port: int | None, tls_port: int | None, cert_dir: str | None,
                   callback_url: str | None) -> None:
    """Run the local WeChat stand-in. Point wxcrm at it with WXCRM_WECHAT_API_BASE."""
    import os

    from werkzeug.serving import run_simple

    from wxcrm.wechat.standin import StandinConfig, create_standin_app
    from wxcrm.wechat.standin.tls import serve_tls
    cfg = StandinConfig.from_wxcrm(current_app.config, callback_url)
    cfg.cert_dir = cert_dir or os.path.join(current_app.instance_path, "standin-certs")
    port = port or current_app.config["WXCRM_STANDIN_PORT"]
    tls_port = port + 1 if tls_port is None else tls_port
    app = create_standin_app(cfg)
    click.echo(f"WeChat stand-in on http://{host}:{port}/standin/ -> callbacks to {cfg.callback_url} "
               f"({'safe mode' if cfg.aes_key else 'plaintext'})")
    click.echo(f"  set WXCRM_WECHAT_API_BASE=http://{host}:{port} for wxcrm")
    if tls_port:
        ca = app.extensions["standin"].ca
        tls = serve_tls(app, ca, host, tls_port)
        click.echo(f"  HTTPS (WeChat Pay, refunds with the merchant certificate) on {tls.url}; for wxcrm set\n"
                   f"    WXCRM_WECHAT_PAY_API_BASE={tls.url}\n"
                   f"    WXCRM_WECHAT_CA_BUNDLE={ca.ca_path}\n"
                   f"    WXCRM_WECHAT_PAY_CERT_PATH={ca.client_cert_path}\n"
                   f"    WXCRM_WECHAT_PAY_KEY_PATH={ca.client_key_path}")
    run_simple(host, port, app, threaded=True)


@wxcrm_cli.command("wechat-card")
@click.option("--again", is_flag=True, help="Make a new card even if one exists (a fresh stand-in).")
def wechat_card(again: bool) -> None:
    """Create the account's WeChat wallet member card (once; needs WXCRM_WECHAT_CARD_ENABLED)."""
    from wxcrm import timeutil
    from wxcrm.cards import wallet
    from wxcrm.wechat.adapter.client import wechat_client
    settings = current_settings()
    if not settings.wechat_card_enabled:
        click.echo("error: WXCRM_WECHAT_CARD_ENABLED is off", err=True)
        sys.exit(2)
    try:
        card = wallet.create_wallet_card(db.session, wechat_client(settings, db.engine), settings,
                                         now=timeutil.utcnow(), again=again)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"wallet member card {card.card_id}")


@wxcrm_cli.command("standin-followers")
@click.option("--wait", default=15.0, show_default=True, help="Seconds to wait for the stand-in to start.")
def standin_followers(wait: float) -> None:
    """Tell the stand-in (at WXCRM_WECHAT_API_BASE) which members follow the account, so
    WeChat knows their openids (the demo's seeded members followed before it started)."""
    import time

    import requests
    from sqlalchemy import select

    from wxcrm.members.models import Member
    base = current_settings().wechat_api_base.rstrip("/")
    if not base:
        click.echo("error: WXCRM_WECHAT_API_BASE is empty (the real WeChat knows its followers)", err=True)
        sys.exit(2)
    people = db.session.execute(select(Member.openid, Member.followed).where(Member.openid.is_not(None))).all()
    deadline = time.monotonic() + wait
    while True:
        try:
            for followed in (True, False):
                openids = [p.openid for p in people if bool(p.followed) == followed]
                if openids:
                    requests.post(f"{base}/standin/users", json={"openids": openids, "subscribed": followed},
                                  timeout=10).raise_for_status()
            break
        except requests.RequestException as exc:
            if time.monotonic() > deadline:
                click.echo(f"error: the stand-in at {base} does not answer ({exc})", err=True)
                sys.exit(1)
            time.sleep(0.3)
    followers = sum(1 for p in people if p.followed)
    click.echo(f"stand-in knows {len(people)} openids ({followers} following)")
