"""The dependency rule (docs/architecture.md → Layers): a module imports only from its own
layer or the layers below it, never from one above (checked on the source: the AST of every
module under `apps/`, so it cannot drift and fails with the exact line)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import apps

ROOT = Path(apps.__file__).parent
# lowest first; a module not named here (config, errors, clock, observability, metrics, heap,
# listen, security/…) is cross-cutting: below everything but the domain, and it may import
# only the domain and other cross-cutting modules
# the paper venue's floors sit beside the gateway's (which never import them:
# test_import_rules.py)
LAYERS = (
    ("apps.oms.domain", "apps.paper.domain"),
    ("apps.oms.ports",),
    ("apps.oms.store", "apps.oms.wakeup", "apps.paper.store"),
    ("apps.oms.exchange", "apps.paper.exchange"),
    # the paper venue's wire dialects serve it (`apps/paper/wire/`): on its service floor
    ("apps.oms.service", "apps.oms.bus", "apps.paper.service", "apps.paper.wire"),
    ("apps.api", "apps.worker", "apps.cli"),
)
CROSS_CUTTING = -1  # rank of the modules not named in LAYERS


def rank(module: str) -> int:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return CROSS_CUTTING


def module_name(path: Path) -> str:
    parts = ("apps", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] == "apps"]


def climbs(module: str, tree: ast.AST) -> list[str]:
    """The imports of `module` that reach a layer above its own."""
    own = rank(module)
    bad = []
    for line, name in imports(tree):
        if name == "apps.oms":  # `from apps.oms import x`: the package itself
            continue
        target = rank(name)
        # cross-cutting modules import only the domain and each other
        allowed = target in (CROSS_CUTTING, 0) if own == CROSS_CUTTING else target <= own
        if not allowed:
            bad.append(f"line {line}: import {name}")
    return bad


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_climbs_a_layer(path: Path) -> None:
    assert climbs(module_name(path), ast.parse(path.read_text(), str(path))) == []


def test_the_rule_catches_a_climb() -> None:
    tree = ast.parse("from apps.oms.service.principal import Principal\n"
                     "from apps.oms.store import books\nimport apps.api.app\n")
    assert climbs("apps.paper.exchange.venue", tree) == [
        "line 1: import apps.oms.service.principal", "line 3: import apps.api.app"]
    assert climbs("apps.oms.config", ast.parse("from apps.oms.store import books\n")) == [
        "line 1: import apps.oms.store"]
    assert climbs("apps.worker.main", tree) == []
