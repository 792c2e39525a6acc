"""Staff login for the console and the till (Flask-Login, CSRF on the form)."""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlparse

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from wxcrm.errors import DomainError
from wxcrm.extensions import db, limiter
from wxcrm.members import service as members

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=256)])


class PasswordForm(FlaskForm):
    current = PasswordField("current", validators=[DataRequired(), Length(max=256)])
    new = PasswordField("new", validators=[DataRequired(), Length(min=8, max=256)])
    confirm = PasswordField("confirm", validators=[DataRequired(), EqualTo("new")])


def _login_username() -> str:
    return "login-user:" + (request.form.get("username") or "").strip().lower()[:64]


def _login_failed(response) -> bool:
    """Only wrong passwords count towards the limits: a busy shop signing in is not throttled."""
    return bool(g.get("login_failed"))


def role_required(*roles: str):
    """A page for these roles only: anonymous users go to login, others get 403."""
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlparse(target)
    return target if not parts.netloc and not parts.scheme and target.startswith("/") else None


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["WXCRM_LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"],
               deduct_when=_login_failed, scope="login-address")
@limiter.limit(lambda: current_app.config["WXCRM_LOGIN_LIMIT_PER_USERNAME"], methods=["POST"],
               key_func=_login_username, deduct_when=_login_failed, scope="login-username")
def login():
    form = LoginForm()
    if form.validate_on_submit():
        staff = members.check_login(db.session, form.username.data, form.password.data)
        db.session.commit()  # the failure counters too
        if staff is None:
            g.login_failed = True
            flash(_("Wrong username or password."), "danger")  # a locked account says the same
        else:
            login_user(staff)
            return redirect(_safe_next(request.args.get("next")) or url_for("index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Signing out ends every session of this staff member, wherever a cookie was saved."""
    members.end_sessions(db.session, current_user)
    db.session.commit()
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """A new password ends every session (this one too): sign in again with it."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            members.change_password(db.session, current_user, current=form.current.data, new=form.new.data)
            db.session.commit()
            logout_user()
            flash(_("Password changed. Please sign in with the new password."), "success")
            return redirect(url_for("auth.login"))
        except DomainError as exc:
            db.session.rollback()
            form.current.errors = [_(exc.detail)]
    return render_template("auth/password.html", form=form)
