"""CCXT's error classes come without the `ccxt` package (apps/oms/exchange/ccxt_errors.py): a
paper-only process does not pay CCXT's ~65 MB, and when CCXT is imported later its classes are
the very ones the paper venue raised. Each check runs in a fresh interpreter, since this test
process may have imported CCXT already."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_processes_import_without_ccxt() -> None:
    assert run(
        "import sys, apps.worker.main, apps.api.main, apps.cli.main\n"
        "print('ccxt' in sys.modules, 'ccxt.base.errors' in sys.modules)"
    ) == "False True"


def test_ccxt_imported_later_uses_the_same_classes() -> None:
    assert run(
        "from apps.oms.exchange.ccxt_errors import errors\n"
        "from apps.paper.exchange.errors import ccxt_errors\n"
        "from apps.paper.domain.errors import InvalidOrderError\n"
        "try:\n"
        "    with ccxt_errors():\n"
        "        raise InvalidOrderError('x')\n"
        "except Exception as exc:\n"
        "    raised = exc\n"
        "import ccxt, ccxt.async_support\n"
        "print(errors.InvalidOrder is ccxt.InvalidOrder is ccxt.async_support.InvalidOrder,\n"
        "      isinstance(raised, ccxt.InvalidOrder), isinstance(raised, ccxt.BaseError))"
    ) == "True True True"


def test_ccxt_imported_first_is_used() -> None:
    assert run(
        "import ccxt\n"
        "from apps.oms.exchange.ccxt_errors import errors\n"
        "print(errors.OrderNotFound is ccxt.OrderNotFound)"
    ) == "True"


def test_mapping_a_refusal_to_the_error_model_imports_no_ccxt() -> None:
    assert run(
        "import sys\n"
        "from apps.oms.exchange.ccxt_errors import errors\n"
        "from apps.oms.exchange.ccxt.error_mapping import to_oms_error\n"
        "error = to_oms_error(errors.InsufficientFunds('paper short'))\n"
        "print(error.code, error.details['ccxt_error'], 'ccxt' in sys.modules)"
    ) == "insufficient_funds InsufficientFunds False"
