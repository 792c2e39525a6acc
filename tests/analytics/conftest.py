from __future__ import annotations

from datetime import date

import pytest

from wxcrm.analytics import bulk, rollup
from wxcrm.extensions import db

TODAY = date(2026, 11, 20)


@pytest.fixture
def shop(make, configure):
    """Six stores (two franchised), four tiers, a group, and a bulk history of 300 members and
    about 3,000 sales over 400 days, rolled up."""
    settings = configure(POINTS_EXPIRY_MONTHS=6)  # so points expire inside a 400-day history
    stores = [make.store(f"S00{i}", kind="franchise" if i in (4, 5) else "direct", name=f"店{i}") for i in range(1, 7)]
    tiers = [make.tier("normal", 1, 0), make.tier("silver", 2, 200_000), make.tier("gold", 3, 800_000),
             make.tier("diamond", 4, 2_000_000)]
    from wxcrm.members import service
    service.create_group(db.session, code="G-ACME", name="艾克美")
    totals = rollup.Totals(settings.tz)
    for _ in bulk.seed_history(db.session, settings, members=300, transactions=3000, days=400, seed=3, today=TODAY,
                               totals=totals):
        pass
    totals.write(db.session, empty=True)   # test_reports checks these rows against a rebuild's
    db.session.commit()
    return {"stores": stores, "tiers": tiers, "settings": settings}
