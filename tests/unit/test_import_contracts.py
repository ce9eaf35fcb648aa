"""The layers of docs/architecture.md, as `lint-imports` checks them in `./dev test`: kept on
the tree as it is, and broken (naming the import) by one wrong import in a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def tree_copy(tmp_path: Path) -> Path:
    """The project's packages and contracts, copied so that a test may break them."""
    only_python = shutil.ignore_patterns("static", "templates", "translations", "__pycache__")
    for package in ("telecentre", "edge", "hub"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=only_python)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_rule_importing_the_store_breaks_the_layers(tree_copy: Path) -> None:
    rule = tree_copy / "hub" / "rules" / "billing.py"
    rule.write_text(rule.read_text() + "\nfrom hub.store import models  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "hub.rules.billing -> hub.store" in result.stdout


def test_a_capability_importing_the_console_is_refused(tree_copy: Path) -> None:
    module = tree_copy / "hub" / "presence" / "retention.py"
    module.write_text(module.read_text() + "\nimport hub.console.query  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "hub.presence.retention -> hub.console.query" in result.stdout


def test_the_edge_importing_the_hub_is_refused(tree_copy: Path) -> None:
    module = tree_copy / "edge" / "access.py"
    module.write_text(module.read_text() + "\nimport hub.config  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "edge.access -> hub.config" in result.stdout


def test_the_console_importing_the_http_server_is_refused(tree_copy: Path) -> None:
    module = tree_copy / "hub" / "console" / "board_streams.py"
    module.write_text(module.read_text() + "\nimport hub.web.server  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "hub.console.board_streams -> hub.web.server" in result.stdout
