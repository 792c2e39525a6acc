"""Rule-engine tests: pure, no database, no Flask app.

The builders live in rules_shop.py; its folder is put on sys.path here so the test
modules can import it whatever pytest import mode the project settles on.
"""
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
