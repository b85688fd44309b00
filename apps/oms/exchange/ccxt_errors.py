"""CCXT's error classes without importing CCXT.

The paper venue speaks CCXT's language, its refusals included (`InvalidOrder`, `BadSymbol`,
`OrderNotFound`…), and the worker catches those classes for every venue. Importing the `ccxt`
package for them costs ~65 MB of RSS per process (its `__init__` imports every exchange class),
which a paper-only worker never needs (spec quality.md → P6: "import CCXT lazily").

`ccxt/base/errors.py` is a plain module with no imports. It is loaded here from CCXT's own file
under its own name, `ccxt.base.errors`, before anything imports `ccxt`; when `ccxt` is imported
later (a CCXT account, a market feed), its `from ccxt.base import errors` finds this module in
`sys.modules`, so `ccxt.InvalidOrder is errors.InvalidOrder` holds everywhere (tested in
`test/unit/foundation/test_ccxt_errors.py`). If `ccxt` was already imported, its module is used.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

NAME = "ccxt.base.errors"


def _load() -> ModuleType:
    loaded = sys.modules.get(NAME)
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("ccxt")  # a top-level package is found, not run
    if package is None or package.origin is None:
        raise ImportError("ccxt is not installed")
    spec = importlib.util.spec_from_file_location(
        NAME, Path(package.origin).parent / "base" / "errors.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {NAME}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[NAME]
        raise
    return module


#: CCXT's `ccxt.base.errors`: `errors.InvalidOrder`, `errors.BaseError`, …
errors = _load()
