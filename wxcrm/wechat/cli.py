"""`flask --app wsgi wxcrm outbox-drain | wechat-menu | wechat-standin`."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup


def register(group: AppGroup) -> None:
    group.add_command(outbox_drain)
    group.add_command(wechat_menu)
    group.add_command(wechat_standin)


@click.command("outbox-drain")
@click.option("--passes", default=1, show_default=True, help="Passes to run (each claims one batch).")
def outbox_drain(passes: int) -> None:
    """Send due outbox messages once (the scheduler does this every few seconds)."""
    from wxcrm.extensions import db
    from wxcrm.wechat.dispatch import drain_outbox
    from wxcrm.wechat.outbox import status_counts
    for _ in range(passes):
        report = drain_outbox(db.session, current_app.config)
        click.echo(f"outbox: {report}")
        for error in report.errors:
            click.echo(f"  {error}", err=True)
        if not report.claimed:
            break
    counts = status_counts(db.session)
    click.echo("queue: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) if counts else "queue: empty")


@click.command("wechat-menu")
@click.option("--dry-run", is_flag=True, help="Print the menu without publishing it.")
def wechat_menu(dry_run: bool) -> None:
    """Publish the account's menu (from WXCRM_WECHAT_MENU, or card/points/coupons/top-up)."""
    import json

    from wechatpy.exceptions import WeChatClientException

    from wxcrm.errors import DomainError
    from wxcrm.wechat.client import wechat_client
    from wxcrm.wechat.menu import menu_from_config, publish_menu
    try:
        menu = menu_from_config(current_app.config)
        if dry_run:
            click.echo(json.dumps(menu, ensure_ascii=False, indent=2))
            return
        publish_menu(wechat_client(), menu)
    except DomainError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
    except WeChatClientException as exc:
        click.echo(f"error: WeChat said {exc.errcode}: {exc.errmsg}", err=True)
        sys.exit(1)
    click.echo(f"menu published ({len(menu['button'])} buttons)")


@click.command("wechat-standin")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=None, type=int, help="Default: WXCRM_STANDIN_PORT (5001).")
@click.option("--callback-url", default=None, help="wxcrm's callback (default: WXCRM_PUBLIC_URL/wechat/callback).")
def wechat_standin(host: str, port: int | None, callback_url: str | None) -> None:
    """Run the local WeChat stand-in. Point wxcrm at it with WXCRM_WECHAT_API_BASE."""
    from werkzeug.serving import run_simple

    from wxcrm.wechat.standin import StandinConfig, create_standin_app
    cfg = StandinConfig.from_wxcrm(current_app.config, callback_url)
    port = port or current_app.config["WXCRM_STANDIN_PORT"]
    click.echo(f"WeChat stand-in on http://{host}:{port}/standin/ -> callbacks to {cfg.callback_url} "
               f"({'safe mode' if cfg.aes_key else 'plaintext'})")
    click.echo(f"  set WXCRM_WECHAT_API_BASE=http://{host}:{port} for wxcrm")
    run_simple(host, port, create_standin_app(cfg), threaded=True)
