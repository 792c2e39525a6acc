"""The layers of ARCHITECTURE.md are a contract (.importlinter): green as the code is, red
the moment someone adds a wrong arrow."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "--config", str(ROOT / ".importlinter"), "--no-cache"]


def lint(package_root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    return subprocess.run(LINT, cwd=package_root, env=env, capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_layer_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_wrong_arrow_breaks_the_build(tmp_path):
    shutil.copytree(ROOT / "wxcrm", tmp_path / "wxcrm", ignore=shutil.ignore_patterns("__pycache__", "translations"))
    engine = tmp_path / "wxcrm" / "rules" / "engine.py"
    engine.write_text(engine.read_text() + "\nfrom wxcrm.messages import outbox  # noqa: E402,F401\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "The rules decide and store: no ledger, no messages, no WeChat BROKEN" in result.stdout
    assert "wxcrm.rules.engine -> wxcrm.messages" in result.stdout
