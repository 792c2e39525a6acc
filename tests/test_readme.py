"""Issue 9, item 16: the README's till examples work as written: the curl command (run by
bash and curl against a live server, with no `uuidgen`) and each refund body."""
from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

from wxcrm.extensions import db
from wxcrm.members import service

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def till_section() -> str:
    return README.split("## Using the till API", 1)[1].split("\n## ", 1)[0]


def test_the_curl_example_rings_up_a_sale_as_written(live_server, make):
    store = make.store("S001")
    cashier = make.staff("cashier", store, username="cashier1")
    make.base_rule()
    member = make.member()
    assert member.card_no == "88000000000013"          # the demo's first card, as the example says
    token = service.create_token(db.session, cashier)
    db.session.commit()
    block = re.search(r"```sh\n(.*?)```", till_section(), re.S).group(1)
    assert "uuidgen" not in block
    command = block.split("\n", 2)[2]                  # after `export` and the token line
    command = command.replace("localhost:5000", live_server.url.replace("http://", ""))
    out = subprocess.run(["bash", "-c", command], env={"TOKEN": token, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30)
    body = json.loads(out.stdout)
    assert body["total_fen"] == 3600 and body["points_earned"] == 36, body
    assert body["created_at"].endswith("Z")


def test_each_refund_body_in_the_readme_works_as_written(cashier_api, manager_api, make):
    refunds = till_section().split("**Refunds**", 1)[1].split("Errors are", 1)[0]
    bodies = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", refunds, re.S)]
    assert bodies == [{}, {"items": [{"line_no": 1, "qty": 1}]}, {"items": [{"sku": "TEA-001", "qty": 1}]}]
    member = make.member()
    sale = cashier_api.post("/transactions", {"store_code": "S001", "member": {"member_id": member.id},
                                              "items": [{"sku": "TEA-001", "qty": 3, "unit_price_fen": 1800},
                                                        {"sku": "BAK-002", "qty": 1, "unit_price_fen": 1650}]},
                            key=str(uuid.uuid4())).json
    for body in reversed(bodies):                      # by SKU, by line, then everything left
        r = manager_api.post(f"/transactions/{sale['id']}/refund", body, key=str(uuid.uuid4()))
        assert r.status_code == 201, (body, r.json)
        assert r.json["refund_fen"] > 0
    assert sum(it.refunded_qty for it in _txn(sale["id"]).items) == 4


def _txn(transaction_id: int):
    from wxcrm.sales.models import Transaction
    db.session.expire_all()
    return db.session.get(Transaction, transaction_id)
