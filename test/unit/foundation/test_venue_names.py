"""Venues behind their port (docs/architecture.md → Layers): outside the venues
(`apps/oms/exchange/`), the place that wires them (`apps/worker/venues.py`) and the paper
venue itself (`apps/paper/`), no code compares an `exchange_id` with a venue's
name: it asks the venue's capabilities (`apps/oms/exchange/profiles.py`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import apps

ROOT = Path(apps.__file__).parent
ALLOWED = ("oms/exchange/", "worker/venues.py", "paper/")


def _names_exchange(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return "exchange_id" in node.id
    if isinstance(node, ast.Attribute):
        return "exchange_id" in node.attr
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "exchange_id"
    if isinstance(node, ast.Call):  # str(row["exchange_id"])
        return any(_names_exchange(arg) for arg in node.args)
    return False


def name_branches(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        literal = any(isinstance(s, ast.Constant) and isinstance(s.value, str) for s in sides)
        if literal and any(_names_exchange(s) for s in sides):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


CHECKED = sorted(p for p in ROOT.rglob("*.py")
                 if not str(p.relative_to(ROOT)).startswith(ALLOWED))  # fmt: skip


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_branch_on_a_venue_name(path: Path) -> None:
    assert name_branches(ast.parse(path.read_text(), str(path))) == []


def test_the_rule_catches_a_name_branch() -> None:
    tree = ast.parse('if row["exchange_id"] == "paper": pass\n'
                     'x = account.exchange_id != "paper"\n'
                     'y = profile(exchange_id).simulated\n'
                     'z = str(a["exchange_id"]) == "binance"\n')
    assert [line.split(":")[0] for line in name_branches(tree)] == ["line 1", "line 2", "line 4"]
