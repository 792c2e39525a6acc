"""The stand-in's own controls: the page lists each rule with its document, the clock
moves only forward, reset forgets everything, and every rule has a test here."""
from __future__ import annotations

import re
from pathlib import Path

import requests

from wxcrm.wechat.standin.rules import RULES


def test_the_page_lists_every_rule_with_its_document_and_what_happened(wx, standin):
    wx.push("subscribe", "o-p1", scene="store_S001")
    wx.get("/cgi-bin/user/info", openid="o-nobody")
    page = requests.get(f"{standin.url}/standin/").text
    for rule in RULES:
        assert rule.doc.url in page and rule.doc.title in page
    assert "o-p1" in page and "store_S001" in page and "40003" in page
    listed = requests.get(f"{standin.url}/standin/rules.json").json()
    assert {r["id"] for r in listed} == {r.id for r in RULES}


def test_the_clock_moves_forward_only_and_reset_brings_back_a_new_standin(wx, standin):
    before = wx.control("clock", method="GET").json()["now"]
    after = wx.control("clock", {"advance": 3600}).json()["now"]
    assert after - before >= 3600
    assert wx.control("clock", {"set": before - 86400}).json()["now"] >= after
    wx.follow("o-p2")
    wx.control("templates", {"template_id": "TPL_EXTRA", "keywords": ["thing1"]})
    assert wx.control("reset").ok
    assert wx.control("clock", method="GET").json()["offset"] == 0
    assert wx.control("users", method="GET").json() == []
    assert "TPL_EXTRA" not in {t["template_id"] for t in wx.control("templates", method="GET").json()}


def test_refused_calls_are_recorded_as_failed_and_accepted_ones_are_not(wx, standin):
    wx.get("/cgi-bin/user/info", openid="o-nobody")
    wx.follow("o-p3")
    wx.get("/cgi-bin/user/info", openid="o-p3")
    assert [c["query"]["openid"] for c in standin.calls("/cgi-bin/user/info")] == ["o-p3"]
    everything = requests.get(f"{standin.url}/standin/calls.json", params={"path": "/cgi-bin/user"}).json()
    assert [c.get("errcode") for c in everything] == [40003, None]


def test_job_reports_wait_for_their_delay_or_a_flush(wx):
    wx.follow("o-p4", "o-p5")
    wx.post("/cgi-bin/message/mass/send", {"touser": ["o-p4", "o-p5"], "msgtype": "text", "text": {"content": "hi"}})
    assert [j["kind"] for j in wx.control("jobs", method="GET").json()] == ["report"]
    assert len(wx.flush_jobs()) == 1 and wx.control("jobs", method="GET").json() == []


def test_every_rule_is_exercised_by_a_test_here():
    text = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    mentioned = set(re.findall(r'"([a-z_]+\.[a-z_]+)"', text))
    untested = [r.id for r in RULES if r.kind != "behaviour" and r.id not in mentioned]
    assert not untested, untested
