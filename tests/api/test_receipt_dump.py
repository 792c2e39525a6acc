"""The till answers its receipt through ``plain_dump`` (issue 11: marshmallow's dump of a
receipt's hundred fields cost more than the rules); it must answer exactly what the
schema's own dump would."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.checkout.test_statement_count import codes, purchase_body, till  # noqa: F401  (fixtures)
from wxcrm.api.schemas import TransactionOut, TransactionPreviewOut, plain_dump
from wxcrm.extensions import db
from wxcrm.sales.models import Transaction

SCHEMA = TransactionOut()

EVERYTHING = {
    "id": 7, "kind": "purchase", "store_code": "S001", "store_name": "一号店", "member_id": None, "card_no": None,
    "original_id": 3, "payment_method": "split", "total_fen": 1800, "discount_fen": 0, "points_redeemed_fen": 0,
    "payable_fen": 1800, "refund_fen": 0, "points_earned": 18, "points_redeemed": 0, "points_shortfall": 0,
    "points_balance": None, "business_date": "2026-11-30", "created_at": "2026-11-30T02:00:00Z",
    "recorded_at": "2026-11-30T02:00:00Z",
    "receipt_lines": [
        {"kind": "item", "text": "TEA-001 × 1", "text_en": "TEA-001 x 1", "sku": "TEA-001", "qty": 1,
         "unit_price_fen": 1800, "amount_fen": 1800},
        {"kind": "points", "text": "积分", "text_en": "Points", "points": 18, "rule": "base", "rule_id": None,
         "rule_version": 2},
        {"kind": "payment", "method": "stored_value", "amount_fen": 1000, "principal_fen": 900, "bonus_fen": 100,
         "code": "X", "not_in_the_schema": "dropped"},
    ],
    "payments": [{"method": "cash", "amount_fen": 800}, {"method": "stored_value", "amount_fen": 1000}],
    "stored_value_fen": 5000, "claim_token": 12345, "claim_qr_url": "https://example.cn/c/1",
    "coupons_applied": [{"code": "ABCD", "title": "满减", "type": "cash", "discount_fen": 300}],
    "coupons_not_applied": [{"code": "EFGH", "title": "券", "reason_code": "expired", "reason": "过期"}],
    "preview": True, "internal": {"not": "answered"},
}


def test_plain_dump_equals_the_schemas_dump_field_by_field():
    assert plain_dump(SCHEMA, EVERYTHING) == SCHEMA.dump(EVERYTHING)
    assert plain_dump(SCHEMA, EVERYTHING)["claim_token"] == "12345"       # not a str: the field serialises it
    assert "internal" not in plain_dump(SCHEMA, EVERYTHING)
    preview = TransactionPreviewOut()
    assert plain_dump(preview, EVERYTHING | {"id": None}) == preview.dump(EVERYTHING | {"id": None})
    assert plain_dump(SCHEMA, {"receipt_lines": []}) == SCHEMA.dump({"receipt_lines": []}) == {"receipt_lines": []}


def _stored(txn_id: int) -> dict:
    db.session.remove()
    return db.session.scalar(select(Transaction.receipt).where(Transaction.id == txn_id))


def test_the_till_answers_what_the_schema_would(till, codes):  # noqa: F811
    cashier, manager, card = till
    sale = cashier.post("/transactions", purchase_body(card), key=str(uuid.uuid4()))
    assert sale.status_code == 201
    assert sale.get_json() == SCHEMA.dump(_stored(sale.get_json()["id"]))
    paid = cashier.post("/transactions", purchase_body(card, 100, codes()), key=str(uuid.uuid4()))
    assert paid.status_code == 201 and paid.get_json()["points_redeemed"] == 100
    assert paid.get_json() == SCHEMA.dump(_stored(paid.get_json()["id"]))
    refund = manager.post(f"/transactions/{paid.get_json()['id']}/refund", {}, key=str(uuid.uuid4()))
    assert refund.status_code == 201
    assert refund.get_json() == SCHEMA.dump(_stored(refund.get_json()["id"]))
