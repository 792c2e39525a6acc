"""Issue 16, item 6: imports from another system. A dry run lists every bad row with its
reason and writes nothing; an import writes the good rows; a re-run changes nothing; the
audit is clean; no signup rule or welcome message fires."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select, text

from wxcrm.analytics import imports
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.ledger.models import LedgerEntry, PointsLot
from wxcrm.members.models import Member
from wxcrm.messages.models import OutboxMessage
from wxcrm.sales.models import Transaction

NEXT_YEAR = (date.today() + timedelta(days=365)).isoformat()

MEMBERS_CSV = (
    "手机号,会员卡号,姓名,性别,生日,区域,门店,等级,入会日期,隐私同意\n"
    "13800000001,,王芳,女,1990-05-01,静安区,S001,金卡,2023-01-15,是\n"       # good
    "13800000002,,李强,男,,徐汇区,S002,,2024-03-01,是\n"                    # good
    "12345,,坏手机,女,,,,,,是\n"                                           # bad phone
    "13800000003,,没同意,女,,,,,,否\n"                                      # no consent
    "13800000004,,怪性别,其他,,,,,,是\n"                                     # bad gender
    "13800000005,,坏生日,女,1990-13-01,,,,,是\n"                             # bad date
    "13800000006,,无门店,女,,,S999,,,是\n"                                   # unknown store
    "13800000007,,无等级,女,,,,黑卡,,是\n"                                   # unknown tier
    "13800000008,12345,坏卡号,女,,,,,,是\n"                                  # bad card number
    "13800000001,,重复,女,,,,,,是\n"                                         # twice in the file
)


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8-sig")
    return str(path)


def run(app, *args):
    return app.test_cli_runner().invoke(args=["wxcrm", "import", *args])


def counts():
    s = db.session
    return (s.scalar(select(func.count(Member.id))), s.scalar(select(func.count(LedgerEntry.id))),
            s.scalar(select(func.count(Transaction.id))), s.scalar(select(func.count(PointsLot.id))),
            s.scalar(select(func.sum(LedgerEntry.amount))))


def test_members_dry_run_lists_every_bad_row_and_writes_nothing_then_import_once(app, make, tmp_path):
    make.store("S001"), make.store("S002")
    make.tier("normal", 1), make.tier("gold", 2)
    db.session.execute(text("UPDATE tiers SET name = '金卡' WHERE code = 'gold'"))
    db.session.commit()
    path = write(tmp_path, "members.csv", MEMBERS_CSV)
    r = run(app, "members", path, "--dry-run")
    assert r.exit_code == 1, r.output
    for line, words in [(4, "11-digit"), (5, "privacy"), (6, "gender"), (7, "not a date"), (8, "no store"),
                        (9, "no tier"), (10, "card number"), (11, "twice")]:
        assert f"line {line}: " in r.output and words in r.output.split(f"line {line}: ")[1].splitlines()[0], r.output
    assert "10 rows, would import 2, already imported 0, bad 8" in r.output
    assert db.session.scalar(select(func.count(Member.id))) == 0

    r = run(app, "members", path)
    assert "imported 2, already imported 0, bad 8" in r.output, r.output
    wang = db.session.scalar(select(Member).where(Member.phone == "13800000001"))
    assert (wang.name, wang.gender, wang.joined_on, wang.home_store.code, wang.tier.code) == \
        ("王芳", "female", date(2023, 1, 15), "S001", "gold")
    assert wang.privacy_version is not None
    before = counts()
    r = run(app, "members", path)
    assert "imported 0, already imported 2, bad 8" in r.output, r.output
    assert counts() == before                                    # a re-run changes nothing
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0   # no welcome message
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 0     # no signup points


def test_points_stored_value_and_transactions_import_once_and_the_audit_is_clean(app, make, tmp_path):
    make.store("S001")
    make.tier()
    a, b = make.member(phone="13900000001"), make.member(phone="13900000002")
    points = write(tmp_path, "points.csv",
                   "会员卡号,积分,到期日,编号\n"
                   f"{a.card_no},500,{NEXT_YEAR},P1\n"
                   f"13900000002,300,{NEXT_YEAR},P2\n"
                   f"{a.card_no},200,2020-01-31,P3\n"          # already expired
                   f"99999999,100,{NEXT_YEAR},P4\n"             # no such member
                   f"{a.card_no},abc,{NEXT_YEAR},P5\n"          # not a number
                   f"{a.card_no},-5,{NEXT_YEAR},P6\n")          # not positive
    value = write(tmp_path, "value.csv", "手机号,金额,编号\n13900000001,100.50,V1\n13900000002,0,V2\n13900000002,1x,V3\n")
    sales = write(tmp_path, "sales.csv",
                  "原单号,会员卡号,门店,交易时间,实付金额,类型,品类\n"
                  f"T1,{a.card_no},S001,2025-06-01 12:30,88.00,消费,tea\n"
                  "T2,,S001,2025-06-02,20,消费,coffee\n"
                  f"T3,{b.card_no},S001,2025-06-03 10:00,30,退货,tea\n"
                  "T4,,S404,2025-06-03 10:00,30,消费,tea\n"       # unknown store
                  "T5,,S001,2099-01-01 10:00,30,消费,tea\n"       # in the future
                  "T6,,S001,2025-06-03 10:00,30,赠送,tea\n"       # unknown kind
                  "T1,,S001,2025-06-03 10:00,30,消费,tea\n")      # twice in the file
    r = run(app, "points", points, "--dry-run")
    assert "6 rows, would import 2, already imported 0, bad 4" in r.output, r.output
    assert "line 4: these points expired" in r.output and "line 5: no member" in r.output
    assert counts()[1] == 0
    for kind, path, expect in [("points", points, "imported 2, already imported 0, bad 4"),
                               ("stored-value", value, "imported 1, already imported 0, bad 2"),
                               ("transactions", sales, "imported 3, already imported 0, bad 4")]:
        r = run(app, kind, path)
        assert expect in r.output, r.output
    assert ledger.balance(db.session, a.id, "points") == 500
    assert ledger.balance(db.session, a.id, "stored_value") == 10050
    lot = db.session.scalar(select(PointsLot).where(PointsLot.points == 300))
    assert lot.expires_on.isoformat() == NEXT_YEAR
    t1 = db.session.scalar(select(Transaction).where(Transaction.member_id == a.id))
    assert (t1.payable_fen, t1.business_date, t1.points_earned) == (8800, date(2025, 6, 1), 0)
    assert t1.created_at.hour == 4                              # 12:30 in Shanghai is 04:30 UTC
    before = counts()
    for kind, path in [("points", points), ("stored-value", value), ("transactions", sales)]:
        r = run(app, kind, path)
        assert "imported 0" in r.output, r.output
    assert counts() == before
    assert ledger.audit(db.session) == []


def test_xlsx_with_english_headers_and_a_missing_column(app, make, tmp_path):
    from openpyxl import Workbook
    make.store("S001")
    make.tier()
    wb = Workbook()
    wb.active.append(["phone", "name", "privacy_consent", "birthday"])
    wb.active.append(["13700000001", "Amy", "yes", date(1991, 2, 3)])
    path = tmp_path / "m.xlsx"
    wb.save(path)
    r = run(app, "members", str(path))
    assert "imported 1" in r.output, r.output
    assert db.session.scalar(select(Member.birthday).where(Member.phone == "13700000001")) == date(1991, 2, 3)
    bad = write(tmp_path, "bad.csv", "姓名\n王\n")
    r = run(app, "members", bad)
    assert r.exit_code == 2 and "no phone column" in r.output


def test_read_rows_accepts_gb18030(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("手机号,姓名\n13800000001,王芳\n".encode("gb18030"))
    assert list(imports.read_rows(path)) == [{"手机号": "13800000001", "姓名": "王芳"}]
