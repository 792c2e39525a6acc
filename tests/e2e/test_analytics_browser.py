"""Issue 16 in a browser: the dashboard draws its charts (ECharts from static/vendor), a click
on a bar opens the figure's drill-down, and a pivot cell leads to exactly its members."""
from __future__ import annotations

from sqlalchemy import text

from tests.analytics.conftest import shop  # noqa: F401 - the fixture: a bulk history, rolled up
from wxcrm.extensions import db

RANGE = "start=2025-11-20&end=2026-11-19"


def sign_in(page, live_server, make):
    make.staff("marketer", username="mk-analytics", password="marketer-pass-1")
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "mk-analytics")
    page.fill("#password", "marketer-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")


def test_the_dashboard_draws_its_charts_and_a_bar_opens_its_members(live_server, make, page, shot, shop):  # noqa: F811
    sign_in(page, live_server, make)
    page.goto(f"{live_server.url}/console/analytics/?{RANGE}")
    for chart in ("day", "hour", "weekday", "store", "category", "gender", "age", "rfm"):
        page.wait_for_selector(f"#chart-{chart}[data-rendered] canvas")
    assert "谁在买" in page.inner_text("main") and "上期" in page.inner_text("main")
    shot(page, "analytics-dashboard-zh", full_page=True)
    # Click the first bar of the store chart where ECharts drew it.
    x, y = page.evaluate("""() => {
        const el = document.getElementById('chart-store'); el.scrollIntoView({block: 'center'});
        const c = echarts.getInstanceByDom(el);
        const value = c.getOption().series[0].data[0];
        const p = c.convertToPixel({seriesIndex: 0}, [0, value / 2]); const r = el.getBoundingClientRect();
        return [r.left + p[0] - 8, r.top + p[1]]; }""")
    page.mouse.click(x, y)
    page.wait_for_url("**/console/analytics/drill**")
    assert "d_store=" in page.url
    shot(page, "analytics-drill-store-zh", full_page=True)


def test_a_pivot_cell_leads_to_exactly_its_members(live_server, make, page, shot, shop):  # noqa: F811
    sign_in(page, live_server, make)
    page.goto(f"{live_server.url}/console/analytics/pivot?{RANGE}&rows=gender&cols=store&measure=members")
    page.wait_for_selector("#chart-pivot[data-rendered] canvas")
    shot(page, "analytics-pivot-zh", full_page=True)
    store = shop["stores"][1].id
    link = page.locator(f"[data-testid=pivot-table] a[href*='d_gender=female'][href*='d_store={store}']")
    shown = int(link.inner_text().replace(",", ""))
    link.click()
    page.wait_for_url("**/console/analytics/drill**")
    ids = {int(v) for v in page.locator("[data-testid=drill-members] tr[data-member-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.memberId)")}
    expected = {m for (m,) in db.session.execute(text(
        "SELECT DISTINCT t.member_id FROM transactions t JOIN members m ON m.id = t.member_id "
        "WHERE t.kind = 'purchase' AND m.gender = 'female' AND t.store_id = :s "
        "AND t.business_date BETWEEN '2025-11-20' AND '2026-11-19'"), {"s": store})}
    assert shown == len(expected)
    # The drill-down lists members with any transaction in the cell (a refund-only member too).
    assert expected <= ids
    shot(page, "analytics-drill-pivot-zh", full_page=True)


def test_a_segment_narrows_the_dashboard_and_the_money_reports_read_in_chinese(live_server, make, page, shot,
                                                                                shop):  # noqa: F811
    from wxcrm.campaigns import service as campaigns
    seg = campaigns.save_segment(db.session, name="女性会员", filters=[{"field": "gender", "op": "in",
                                                                     "value": ["female"]}])
    db.session.commit()
    sign_in(page, live_server, make)
    page.goto(f"{live_server.url}/console/analytics/?{RANGE}&segment={seg.id}")
    for chart in ("day", "hour", "store", "category", "gender"):
        page.wait_for_selector(f"#chart-{chart}[data-rendered] canvas")
    assert page.locator("#segment option:checked").inner_text() == "女性会员"
    genders = page.evaluate("() => echarts.getInstanceByDom(document.getElementById('chart-gender'))"
                            ".getOption().xAxis?.[0]?.data || echarts.getInstanceByDom("
                            "document.getElementById('chart-gender')).getOption().series[0].data.map(d => d.name)")
    assert genders == ["女"], genders          # only the segment's members
    shot(page, "analytics-dashboard-segment-zh", full_page=True)
    page.goto(f"{live_server.url}/console/analytics/reports")
    text_ = page.inner_text("main")
    assert "优惠券发放与核销" in text_ and "储值跨店结算" in text_
    page.goto(f"{live_server.url}/console/analytics/reports/settlement?{RANGE}&period=month")
    assert "应付方" in page.inner_text("main") and "充值门店" in page.inner_text("main")
    shot(page, "analytics-report-settlement-zh", full_page=True)
    page.goto(f"{live_server.url}/console/analytics/pivot?{RANGE}&rows=store&cols=month&measure=stored_value")
    assert "储值支付" in page.inner_text("main")
    shot(page, "analytics-pivot-stored-value-zh", full_page=True)
