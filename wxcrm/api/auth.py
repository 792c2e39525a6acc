"""Staff bearer tokens for the API: 401 without a valid token, 403 for a wrong role."""
from __future__ import annotations

from functools import wraps

from flask import g, request

from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.members import service as members

BEARER_SCHEME = {"type": "http", "scheme": "bearer", "description": "A staff token from `flask wxcrm token-create`."}


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Missing or invalid bearer token"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Your role may not do this"


def current_staff():
    return g.staff


def token_scope() -> str:
    """The bearer token's id: idempotency keys and look-up limits are per token."""
    return str(g.token_id)


def roles_required(blp, *roles: str):
    """Decorate a view: authenticate the bearer token, check the role, document it."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            found = members.token_and_staff(db.session(), token.strip()) if scheme.lower() == "bearer" and token else None
            staff = found[1] if found else None
            if staff is None:
                raise Unauthorized("send 'Authorization: Bearer <token>' with a valid staff token")
            if staff.role not in roles:
                raise Forbidden(f"role {staff.role} may not do this; needs {' or '.join(roles)}")
            g.staff, g.token_id = staff, found[0]
            return view(*args, **kwargs)
        doc = blp.doc(security=[{"bearerAuth": []}],
                      responses={"401": {"description": "Missing or invalid token"},
                                 "403": {"description": f"Needs role {' or '.join(roles)}"}})
        return doc(wrapped)
    return decorator
