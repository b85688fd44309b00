"""The store owns every statement (docs/architecture.md → Layers): no module above
`apps/oms/store/` and the paper venue's `apps/paper/store/` (the venues, the services, the API,
the worker, the CLI) imports SQLAlchemy or the store's tables; what they may name of the store
is `apps/oms/store/boundary.py` (the connection handle, a savepoint, the store's errors) and the
store's functions, which send every statement (no `conn.execute` above the store either)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import apps

ROOT = Path(apps.__file__).parent
BELOW = ("oms/domain/", "oms/store/", "oms/ports.py", "paper/domain/", "paper/store/")


def sql_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module in ("apps.oms.store", "apps.paper.store"):
                names += [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [f"line {node.lineno}: import {name}" for name in names
                  if name.split(".")[0] == "sqlalchemy"
                  or name in ("apps.oms.store.tables", "apps.paper.store.tables")]
    return found + statements_sent(tree)


def statements_sent(tree: ast.AST) -> list[str]:
    """Statements sent on a store connection (`conn.execute(…)`, `rec.conn.exec_driver_sql`,
    a savepoint taken directly): the store's functions send them."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in SENDS):
            continue
        owner = node.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if name == "conn" or name.endswith("_conn"):
            found.append(f"line {node.lineno}: {name}.{node.attr}")
    return found


SENDS = frozenset({"execute", "exec_driver_sql", "begin_nested", "scalar", "scalars", "stream"})


ABOVE = sorted(p for p in ROOT.rglob("*.py")
               if not str(p.relative_to(ROOT)).startswith(BELOW))  # fmt: skip


@pytest.mark.parametrize("path", ABOVE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sql_above_the_store(path: Path) -> None:
    assert sql_imports(ast.parse(path.read_text(), str(path))) == []


def test_the_rule_catches_sql() -> None:
    tree = ast.parse("from sqlalchemy import select\nimport sqlalchemy.exc\n"
                     "from apps.oms.store import tables, books\n"
                     "from apps.oms.store.boundary import Connection\n"
                     "async def f(rec, conn):\n    await rec.conn.execute(q)\n"
                     "    await conn.exec_driver_sql('SELECT 1')\n"
                     "    await dispatch.execute(rt)\n")
    assert sql_imports(tree) == ["line 1: import sqlalchemy", "line 2: import sqlalchemy.exc",
                                 "line 3: import apps.oms.store.tables",
                                 "line 6: conn.execute", "line 7: conn.exec_driver_sql"]
