"""The pure engine's tests: no database, no Flask app (this replaces the suite's table
cleaning with nothing). Builders in the shop's words are in ``shop.py``."""
import pytest


@pytest.fixture(autouse=True)
def _clean_tables():
    yield
