"""The console's analytics pages, in Chinese: dashboard, pivot, drill-down, reports and their
exports, and the import's two steps."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from wxcrm.extensions import db
from wxcrm.members.models import Member


def sign_in(client, make, role="marketer"):
    make.staff(role, username=f"{role}-a")
    client.post("/login", data={"username": f"{role}-a", "password": "password123"})


def test_every_analytics_page_renders_in_chinese(client, make, shop):
    sign_in(client, make)
    q = "start=2025-11-20&end=2026-11-19"
    r = client.get(f"/console/analytics/?{q}", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert 'id="chart-day"' in page and "vendor/echarts/echarts.min.js" in page and "cdn" not in page.lower()
    for path in (f"/console/analytics/pivot?{q}&rows=gender&cols=age&measure=members",
                 f"/console/analytics/pivot?{q}&rows=store&cols=month&measure=spend",
                 f"/console/analytics/drill?{q}&d_gender=female&d_weekday=5",
                 "/console/analytics/reports"):
        assert client.get(path).status_code == 200, path
    for code in ("new_members", "transactions", "points", "stored_value", "transaction_detail"):
        assert client.get(f"/console/analytics/reports/{code}?{q}&period=month").status_code == 200, code
    csv = client.get(f"/console/analytics/reports/transactions.csv?{q}&period=month")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    xlsx = client.get(f"/console/analytics/reports/transactions.xlsx?{q}&period=month")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_the_detail_export_says_kinds_and_tenders_in_the_readers_words(client, make, shop):
    """Codes (`wechat_pay`, `refund`) are for machines: the CSV and XLSX a marketer opens say
    微信支付 and 退款, as the page does."""
    from openpyxl import load_workbook
    sign_in(client, make)
    q = "start=2025-11-20&end=2026-11-19&period=day"
    text = client.get(f"/console/analytics/reports/transaction_detail.csv?{q}",
                      headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    rows = [line.split(",") for line in text.splitlines()[1:]]
    assert len(rows) > 1000
    assert "微信支付" in {r[6] for r in rows} and {"消费", "退货"} >= {r[3] for r in rows} and "退货" in {r[3] for r in rows}
    assert not {"wechat_pay", "purchase", "refund", "cash"} & ({r[3] for r in rows} | {r[6] for r in rows})
    xlsx = client.get(f"/console/analytics/reports/transaction_detail.xlsx?{q}", headers={"Accept-Language": "zh-CN"})
    sheet = load_workbook(io.BytesIO(xlsx.data), read_only=True).active
    cells = {(row[3], row[6]) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert ("消费", "微信支付") in cells and not any(kind in ("purchase", "refund") for kind, _ in cells)


def test_bad_filters_get_a_message_not_a_500(client, make):
    sign_in(client, make)
    for path in ("/console/analytics/?start=2026-13-01", "/console/analytics/?start=2026-05-01&end=2026-01-01",
                 "/console/analytics/drill?d_weekday=x", "/console/analytics/drill?d_nonsense=1",
                 "/console/analytics/reports/nope", "/console/analytics/pivot?rows=gender&cols=gender",
                 "/console/analytics/pivot?rows=hour&cols=gender&measure=members"):
        assert client.get(path).status_code in (200, 400), path


def test_cashiers_see_no_analytics(client, make):
    sign_in(client, make, "cashier")
    assert client.get("/console/analytics/").status_code in (302, 403)


def test_the_console_import_dry_runs_then_imports(client, make):
    make.store("S001")
    make.tier()
    sign_in(client, make, "admin")
    body = "手机号,姓名,隐私同意\n13800000001,王芳,是\n123,坏,是\n".encode("utf-8-sig")
    r = client.post("/console/analytics/imports", data={"kind": "members", "file": (io.BytesIO(body), "m.csv")},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "13800000001" not in page.split("data-testid")[0]
    assert db.session.scalar(select(func.count(Member.id))) == 0
    token = page.split('name="token" value="')[1].split('"')[0]
    r = client.post("/console/analytics/imports", data={"kind": "members", "token": token})
    assert r.status_code == 200
    assert db.session.scalar(select(func.count(Member.id))) == 1
    again = client.post("/console/analytics/imports", data={"kind": "members", "token": token})
    assert again.status_code == 400                              # the file was used up: nothing twice
