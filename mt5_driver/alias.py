"""`import MetaTrader5` → this package, only when the user asks and only where the official
package is not installed: the finder goes last on `sys.meta_path`, so any installed
`MetaTrader5` (Windows) is found first and used.

    python -m mt5_driver.alias install [--scope env|user] [--site-dir DIR]
    python -m mt5_driver.alias status|uninstall [--scope env|user] [--site-dir DIR]

`install` writes `mt5_driver_alias.pth` into a site directory (env: this interpreter's
site-packages; user: the user site): a line putting this package's parent on `sys.path` and a
line calling `enable()` at start-up (this file alone, stdlib only: the package is imported by
`import MetaTrader5`, not at start-up).
In a program, `mt5_driver.alias.enable()` does the same for that process.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import site
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

NAME = "MetaTrader5"
PTH = "mt5_driver_alias.pth"


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module("mt5_driver")

    def exec_module(self, module: ModuleType) -> None:
        """Already executed: `MetaTrader5` is the `mt5_driver` module itself (one state)."""


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds `MetaTrader5` only after every other finder found nothing."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:  # fmt: skip
        if fullname != NAME:
            return None
        return importlib.machinery.ModuleSpec(NAME, _Loader(), origin="mt5_driver")


def enable() -> None:
    """Let `import MetaTrader5` find this package where no official one is installed."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(AliasFinder())


def disable() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, AliasFinder)]


def _site_dir(scope: str, site_dir: str | None) -> Path:
    if site_dir:
        return Path(site_dir)
    if scope == "user":
        return Path(site.getusersitepackages())
    return Path(sysconfig.get_paths()["purelib"])


def pth_text() -> str:
    """The `.pth` lines: the package's parent on `sys.path`, and this file loaded by its path
    (not the package: start-up imports no numpy) to call `enable()`."""
    here = Path(__file__).resolve()
    load = ("import importlib.util as u; s = u.spec_from_file_location('_mt5_driver_alias', "
            f"{str(here)!r}); m = u.module_from_spec(s); s.loader.exec_module(m); m.enable()")
    return f"{here.parents[1]}\n{load}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mt5_driver.alias")
    parser.add_argument("action", choices=["install", "status", "uninstall"])
    parser.add_argument("--scope", choices=["env", "user"], default="env")
    parser.add_argument("--site-dir")
    args = parser.parse_args(argv)
    path = _site_dir(args.scope, args.site_dir) / PTH
    official = importlib.util.find_spec(NAME) is not None and not path.exists()
    if args.action == "install":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pth_text())
        out = {"installed": True, "path": str(path), "official_package_found": official}
    elif args.action == "uninstall":
        removed = path.exists()
        path.unlink(missing_ok=True)
        out = {"removed": removed, "path": str(path)}
    else:
        out = {"installed": path.exists(), "path": str(path), "official_package_found": official}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
