"""Domain errors: services raise them; the API turns them into problem+json
(with the stable ``code``) and pages into form messages."""
from __future__ import annotations


class DomainError(Exception):
    status = 422
    code = "invalid"
    title = "Request cannot be processed"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None,
                 fields: dict | None = None, params: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}
        # The numbers in ``detail`` by name, so a page can say it again in its own language
        # (wxcrm.web.messages translates by ``code``).
        self.params = params or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InsufficientBalance(DomainError):
    status = 422
    code = "insufficient_balance"
    title = "Insufficient balance"


def N_(message: str) -> str:
    """Mark a message for translation without translating it here (services know no
    locale). Pages show ``gettext(exc.detail)``; the API keeps the English text."""
    return message
