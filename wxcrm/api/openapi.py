"""The OpenAPI document as served: flask-smorest's, with every error response typed as
what ``errors.py`` sends (``application/problem+json``, the ``Problem`` schema), and the
400 / 404 / 409 / 422 answers (401 / 403 with a token) listed on every operation."""
from __future__ import annotations

import copy

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
ERRORS = {
    "400": "Bad request: the body is not JSON, a header is missing (Idempotency-Key) or a query is wrong",
    "404": "Not found: the store, member, transaction or rule named does not exist",
    "409": "Conflict: the Idempotency-Key was used with another body, or the thing already exists",
    "422": "Unprocessable: a field is invalid (errors lists the paths) or the rules refuse the request",
}
METHODS = ("get", "post", "put", "patch", "delete")


def openapi_document(spec: dict) -> dict:
    doc = copy.deepcopy(spec)
    for response in doc.get("components", {}).get("responses", {}).values():
        _as_problem(response)
    for operations in doc.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                if status not in responses or "$ref" in responses[status]:
                    responses[status] = {"description": description}
                responses[status]["content"] = copy.deepcopy(PROBLEM)
            for status in ("401", "403", "default"):
                if status in responses and "$ref" not in responses[status]:
                    responses[status]["content"] = copy.deepcopy(PROBLEM)
    return doc


def _as_problem(response: dict) -> None:
    content = response.get("content") or {}
    if "application/json" in content and "Problem" in str(content["application/json"].get("schema", "")):
        response["content"] = copy.deepcopy(PROBLEM)
