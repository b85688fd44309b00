"""The module is the official package as its published stubs (`metatrader5-stubs`) declare it:
every public name there exists here with the same value, every named tuple has the stubs'
fields in their order (the request echo too), and the official functions the stubs leave out
are here with the documented ones. And the package imports nothing from `apps/`."""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import mt5_driver as mt5
from mt5_driver import structures

DOCUMENTED_FUNCTIONS = {  # the official package's functions (MetaTrader 5 Python documentation)
    "initialize", "login", "shutdown", "version", "last_error", "account_info", "terminal_info",
    "symbols_total", "symbols_get", "symbol_info", "symbol_info_tick", "symbol_select",
    "market_book_add", "market_book_get", "market_book_release", "copy_rates_from",
    "copy_rates_from_pos", "copy_rates_range", "copy_ticks_from", "copy_ticks_range",
    "orders_total", "orders_get", "order_calc_margin", "order_calc_profit", "order_check",
    "order_send", "positions_total", "positions_get", "history_orders_total",
    "history_orders_get", "history_deals_total", "history_deals_get",
}  # fmt: skip
DOCUMENTED_TYPES = {"AccountInfo", "SymbolInfo", "BookInfo", "TradeDeal", "OrderCheckResult"}


def stub_tree() -> ast.Module:
    for root in sys.path:
        path = Path(root) / "MetaTrader5-stubs" / "__init__.pyi"
        if path.exists():
            return ast.parse(path.read_text())
    raise AssertionError("metatrader5-stubs is not installed (pip install -e '.[dev]')")


def stub_constants() -> dict[str, object]:
    out = {}
    for node in stub_tree().body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = eval(compile(ast.Expression(node.value), "stub", "eval"))  # noqa: S307 - literals of the stubs
    return out


def stub_classes() -> dict[str, list[str]]:
    return {node.name: [s.target.id for s in node.body if isinstance(s, ast.AnnAssign)
                        and isinstance(s.target, ast.Name)]
            for node in stub_tree().body if isinstance(node, ast.ClassDef)}  # fmt: skip


def stub_functions() -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in stub_tree().body if isinstance(n, ast.FunctionDef)}


def test_every_constant_has_the_stubs_value() -> None:
    constants = stub_constants()
    assert len(constants) > 200
    for name, value in constants.items():
        assert getattr(mt5, name) == value, name


def test_every_named_tuple_has_the_stubs_fields_in_order() -> None:
    classes = stub_classes()
    assert set(classes) == {"TradeRequest", "OrderSendResult", "TradePosition", "Tick",
                            "TradeOrder", "TerminalInfo"}  # fmt: skip
    for name, fields in classes.items():
        ours = getattr(mt5, name)
        assert list(ours._fields) == fields, name  # TradeRequest: the stubs' TypedDict keys


def test_every_stub_function_is_here_with_its_parameters() -> None:
    for name, node in stub_functions().items():
        ours = inspect.signature(getattr(mt5, name))
        theirs = [a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]]
        assert list(ours.parameters) == theirs, name
        kinds = {p.name: p.kind for p in ours.parameters.values()}
        for arg in node.args.kwonlyargs:
            assert kinds[arg.arg] == inspect.Parameter.KEYWORD_ONLY, (name, arg.arg)
        for arg in node.args.posonlyargs:
            assert kinds[arg.arg] == inspect.Parameter.POSITIONAL_ONLY, (name, arg.arg)


def test_public_names_are_the_official_packages() -> None:
    stubs = {n for n in stub_constants() if not n.startswith("_")}
    stubs |= set(stub_classes()) | set(stub_functions())
    public = {n for n in dir(mt5) if not n.startswith("_")} - {
        "api", "constants", "structures", "session", "wire", "errors", "convert", "symbols",
        "rates", "books", "ledger", "requests", "trading", "account", "alias", "conformance",
        "annotations", "Final"}  # the package's own modules and typing helpers
    assert stubs <= public
    assert public - stubs == (DOCUMENTED_FUNCTIONS | DOCUMENTED_TYPES) - stubs
    assert (mt5.__version__, mt5.__author__) == (stub_constants()["__version__"],
                                                 stub_constants()["__author__"])  # fmt: skip


def test_rates_and_ticks_dtypes_are_metatraders() -> None:
    assert structures.RATES_DTYPE.names == ("time", "open", "high", "low", "close",
                                            "tick_volume", "spread", "real_volume")  # fmt: skip
    assert structures.TICKS_DTYPE.names == ("time", "bid", "ask", "last", "volume", "time_msc",
                                            "flags", "volume_real")  # fmt: skip


def test_the_package_imports_nothing_from_apps() -> None:
    root = Path(mt5.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("apps", "test")]
    assert found == []
