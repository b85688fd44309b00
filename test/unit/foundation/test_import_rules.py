"""The paper venue is a neighbour of the exchanges (docs/architecture.md): the books, the
services, the store and the ports never import `apps.paper`; the paper venue never imports the
entry points nor the gateway's services; no venue joins the books' transaction
(`JoinableVenuePort` is gone). Checked on the AST of every module, imports inside functions
included, so a lazy import cannot slip through."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import apps

ROOT = Path(apps.__file__).parent
OMS = ROOT / "oms"
CORE = sorted(
    [p for floor in ("domain", "service", "store") for p in (OMS / floor).rglob("*.py")
     if not p.is_relative_to(OMS / "store" / "migrations")]
    + [OMS / "ports.py"]
)  # fmt: skip
PAPER = sorted((ROOT / "paper").rglob("*.py"))
PAPER_MAY_NOT_IMPORT = ("apps.api", "apps.worker", "apps.oms.service")
#: the wire dialects (`apps/paper/wire/`) serve the paper venue: they sit on top of it, so the
#: rest of the paper venue and the gateway never import them (the CLI starts them)
WIRE = sorted((ROOT / "paper" / "wire").rglob("*.py"))
NOT_WIRE = sorted(p for p in ROOT.rglob("*.py")
                  if not p.is_relative_to(ROOT / "paper" / "wire")
                  and not p.is_relative_to(ROOT / "cli"))  # fmt: skip


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an `import` or `from … import …` names, wherever it stands (`from apps
    import paper` names `apps.paper`)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return sorted(found)


def reaches(tree: ast.AST, packages: tuple[str, ...]) -> list[str]:
    return [f"line {line}: import {name}" for line, name in imported(tree)
            if any(name == p or name.startswith(p + ".") for p in packages)]  # fmt: skip


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_walk_covers_the_core_and_the_paper_venue() -> None:
    names = {rel(p) for p in CORE}
    assert {"oms/ports.py", "oms/domain/funding.py", "oms/service/accept_orders.py",
            "oms/store/quotes.py"} <= names  # fmt: skip
    assert not any(n.startswith("oms/store/migrations/") for n in names)
    assert "paper/exchange/venue.py" in {rel(p) for p in PAPER}
    assert {"paper/wire/server.py", "paper/wire/binance_usdm.py"} <= {rel(p) for p in WIRE}
    assert set(WIRE) <= set(PAPER)  # the paper venue's rules hold for its dialects too


@pytest.mark.parametrize("path", CORE, ids=rel)
def test_the_core_never_imports_the_paper_venue(path: Path) -> None:
    assert reaches(ast.parse(path.read_text(), str(path)), ("apps.paper",)) == []


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_the_paper_venue_never_imports_entry_points_or_services(path: Path) -> None:
    assert reaches(ast.parse(path.read_text(), str(path)), PAPER_MAY_NOT_IMPORT) == []


@pytest.mark.parametrize("path", NOT_WIRE, ids=rel)
def test_only_the_cli_starts_the_wire_dialects(path: Path) -> None:
    assert reaches(ast.parse(path.read_text(), str(path)), ("apps.paper.wire",)) == []


def test_no_joinable_venue_port() -> None:
    assert [rel(p) for p in ROOT.rglob("*.py") if "JoinableVenuePort" in p.read_text()] == []


def test_the_rule_catches_an_import_inside_a_function() -> None:
    tree = ast.parse("def f():\n    from apps.paper.exchange.factory import shared_venue\n"
                     "from apps import paper\nimport apps.paperish\n"
                     "from apps.oms.service import funding\n")
    assert reaches(tree, ("apps.paper",)) == [
        "line 2: import apps.paper.exchange.factory",
        "line 2: import apps.paper.exchange.factory.shared_venue",
        "line 3: import apps.paper",
    ]
    assert reaches(tree, PAPER_MAY_NOT_IMPORT) == [
        "line 5: import apps.oms.service", "line 5: import apps.oms.service.funding"]
