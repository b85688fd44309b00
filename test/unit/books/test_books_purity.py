"""The domain package is pure: no float anywhere, and only the standard library or the domain
package itself is imported (checked on the source, so it cannot drift)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import apps.oms.domain

DOMAIN = Path(apps.oms.domain.__file__).parent
MODULES = sorted(DOMAIN.rglob("*.py"))


def _ids(path: Path) -> str:
    return str(path.relative_to(DOMAIN))


def float_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            found.append(f"line {node.lineno}: float literal {node.value!r}")
        elif isinstance(node, ast.Name) and node.id == "float":
            found.append(f"line {node.lineno}: float name")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                node.value == "float" or node.value.startswith("float ")):
            found.append(f"line {node.lineno}: float in a string annotation")
    return found


def foreign_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and not name.startswith("apps.oms.domain"):
                found.append(f"line {node.lineno}: import {name}")
    return found


def test_books_domain_modules_are_found() -> None:
    assert {"positions.py", "fills.py", "orders.py", "money.py"} <= {p.name for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=_ids)
def test_books_no_float_in_domain(path: Path) -> None:
    assert float_uses(ast.parse(path.read_text(), str(path))) == []


@pytest.mark.parametrize("path", MODULES, ids=_ids)
def test_books_domain_imports_stdlib_or_domain_only(path: Path) -> None:
    assert foreign_imports(ast.parse(path.read_text(), str(path))) == []


def test_books_purity_checks_catch_offenders() -> None:
    bad = ast.parse("import pydantic\nfrom sqlalchemy import x\nx: float = 1.5\ny = float('1')\n"
                    "def f(a: 'float') -> None: ...\n")
    assert len(float_uses(bad)) == 4
    assert len(foreign_imports(bad)) == 2
    good = ast.parse("from decimal import Decimal\nfrom apps.oms.domain.money import ZERO\n"
                     "from . import enums\n")
    assert foreign_imports(good) == []
