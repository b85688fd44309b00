"""`python -m ccxt_driver.autopatch install|uninstall|status [--scope user|env] [--mode
safe|aggressive] [--override binance,bybit] [--site-dir DIR]`.

`install` writes `ccxt_oms_autopatch.pth` into the chosen site directory (the environment's
site-packages, the user site, or `--site-dir`). Python runs its import line at start-up; it adds an
import hook (stdlib only, CCXT is not imported) that patches CCXT right after CCXT is imported:

- `safe`: `ccxt.oms` / `ccxt.async_support.oms` / `ccxt.pro.oms` are the gateway classes and
  `ccxt.oms_exchange(config=None)` builds one from `CCXT_OMS_*` environment defaults;
- `aggressive`: additionally the listed `ccxt.<id>` constructors (sync, async and pro) return
  gateway-backed objects configured by `CCXT_OMS_API_KEY`, `CCXT_OMS_ACCOUNT_ID`,
  `CCXT_OMS_STRATEGY_ID`, `CCXT_OMS_BASE_URL` (the venue's own keys in the config are ignored).

A `.pth` file rather than `sitecustomize.py`: it composes with an existing sitecustomize.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import json
import os
import site
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

PTH_NAME = "ccxt_oms_autopatch.pth"
MODULES = ("ccxt", "ccxt.async_support", "ccxt.pro")
ENV = {"apiKey": "CCXT_OMS_API_KEY", "accountId": "CCXT_OMS_ACCOUNT_ID",
       "strategyId": "CCXT_OMS_STRATEGY_ID", "base_url": "CCXT_OMS_BASE_URL"}  # fmt: skip
_settings: dict[str, Any] = {"mode": "safe", "override": []}


def env_config(config: dict[str, Any] | None = None, *, venue: bool = False) -> dict[str, Any]:
    """`CCXT_OMS_*` defaults under the caller's config. The caller's OMS keys win, except for a
    replaced venue constructor (`venue=True`), whose `apiKey` is the venue's, never the gateway's."""
    kept = ("options", "timeout") if venue else (*ENV, "options", "timeout")
    out = {key: os.environ[var] for key, var in ENV.items() if os.environ.get(var)}
    out.update({k: v for k, v in (config or {}).items() if k in kept})
    return out


def _driver_class(module_name: str) -> Any:
    if module_name == "ccxt":
        from ccxt_driver.exchange import OmsCcxtExchange

        return OmsCcxtExchange
    from ccxt_driver.pro import OmsCcxtProExchange

    return OmsCcxtProExchange


def patch(module: ModuleType) -> None:
    """Add the gateway classes (and in aggressive mode, replace the listed exchanges).

    Replaced exchanges are built on first access (the module's `__getattr__`), not here: this
    runs while CCXT is being imported, possibly by the driver itself (`ccxt_driver.pro` imports
    `ccxt.async_support`), and building a class then would import the half-initialised driver."""
    name = module.__name__
    previous = getattr(module, "__getattr__", None)
    replaced: dict[str, Any] = {}
    for exchange_id in _settings["override"]:
        original = module.__dict__.pop(exchange_id, None)
        replaced[exchange_id] = original

    def lazy(attr: str) -> Any:
        if attr == "oms":
            return _driver_class(name)
        if attr == "oms_exchange":
            return lambda config=None, **kw: _driver_class(name)(env_config(config), **kw)
        if attr in replaced:
            built = venue_class(name, attr, replaced[attr])
            setattr(module, attr, built)  # later lookups find it directly
            return built
        if previous is not None:
            return previous(attr)
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__getattr__ = lazy  # type: ignore[method-assign]


def venue_class(module_name: str, exchange_id: str, original: Any) -> Any:
    """The gateway class standing for `exchange_id`: configured from `CCXT_OMS_*` (the venue's
    own keys are ignored) and presenting that exchange's identity (`ccxt_driver.identity`)."""

    base = _driver_class(module_name)

    def __init__(self: Any, config: dict[str, Any] | None = None, _base: Any = base) -> None:
        _base.__init__(self, env_config(config, venue=True))

    name = exchange_id
    if original is not None:
        try:  # describe() reads no state: an uninitialised instance is enough (no I/O)
            name = str(object.__new__(original).describe()["name"])
        except Exception:  # a describe() that needs more: keep the id
            name = exchange_id
    from ccxt_driver import identity  # CCXT is imported by now

    asynchronous = module_name != "ccxt"
    attributes = {"__init__": __init__, "oms_identity": (exchange_id, name),
                  **identity.methods(exchange_id, asynchronous)}  # fmt: skip
    return type(exchange_id, (base,), attributes)


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def activate(mode: str = "safe", override: str = "") -> None:
    """Called by the `.pth` line at interpreter start-up."""
    _settings["mode"] = mode
    _settings["override"] = [x for x in override.split(",") if x] if mode == "aggressive" else []
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for module_name in MODULES:  # already imported (e.g. activated late): patch now
        if module_name in sys.modules:
            patch(sys.modules[module_name])


# --- command line -------------------------------------------------------------------------------


def site_dir(scope: str, explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    if scope == "user":
        return Path(site.getusersitepackages())
    return Path(sysconfig.get_paths()["purelib"])


def install(target: Path, mode: str, override: str) -> Path:
    """Write the `.pth` file, whole or not at all: an interpreter starting meanwhile in that
    environment (a bot) reads either the old file or the new one, never a truncated one that
    would leave it unpatched without a word. Unchanged content is not rewritten."""
    target.mkdir(parents=True, exist_ok=True)
    package_parent = Path(__file__).resolve().parents[1]
    line = f"import ccxt_driver.autopatch as _p; _p.activate({mode!r}, {override!r})"
    path = target / PTH_NAME
    content = f"{package_parent}\n{line}\n"
    if path.exists() and path.read_text() == content:
        return path
    fd, temporary = tempfile.mkstemp(dir=target, prefix=f".{PTH_NAME}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(content)
    os.chmod(temporary, 0o644)  # as a plain write would leave it (mkstemp's is 0600)
    os.replace(temporary, path)
    return path


def status(target: Path) -> dict[str, Any]:
    path = target / PTH_NAME
    if not path.exists():
        return {"installed": False, "path": str(path)}
    line = path.read_text().splitlines()[-1]
    args = line.split("activate(", 1)[1].rstrip(")").split(", ")
    return {"installed": True, "path": str(path), "mode": args[0].strip("'\""),
            "override": [x for x in args[1].strip("'\"").split(",") if x]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccxt_driver.autopatch")
    parser.add_argument("action", choices=["install", "uninstall", "status"])
    parser.add_argument("--scope", choices=["user", "env"], default="env")
    parser.add_argument("--mode", choices=["safe", "aggressive"], default="safe")
    parser.add_argument("--override", default="", help="exchange ids, comma separated")
    parser.add_argument("--site-dir", default=None, help="an explicit site directory")
    ns = parser.parse_args(argv)
    target = site_dir(ns.scope, ns.site_dir)
    if ns.action == "install":
        if ns.mode == "aggressive" and not ns.override:
            parser.error("--mode aggressive needs --override ID[,ID...]")
        result: dict[str, Any] = {"installed": True,
                                  "path": str(install(target, ns.mode, ns.override))}
    elif ns.action == "uninstall":
        path = target / PTH_NAME
        existed = path.exists()
        path.unlink(missing_ok=True)
        result = {"installed": False, "removed": existed, "path": str(path)}
    else:
        result = status(target)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
