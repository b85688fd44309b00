"""bench/wire.py's and bench/cpu_kind.py's pure part: a sample of the worker's CPU attributed to
CCXT or to the gateway by the files of its stack, and the CPU per command split between the
gateway, CCXT and the venue; no process, no sampling."""

from __future__ import annotations

import pytest

from bench.cpu_kind import kind_of
from bench.wire import VENUES, cpu_split, symbol

SITE = "/venv/lib/python3.11/site-packages"


@pytest.mark.parametrize(("files", "kind"), [
    # a CCXT call: the ccxt package on the stack (its aiohttp request under it counts as CCXT)
    ([f"{SITE}/aiohttp/client.py", f"{SITE}/ccxt/async_support/binance.py",
      "/usr/lib/python3.11/asyncio/events.py"], "ccxt"),
    # the adapter calling CCXT, while CCXT works: CCXT's
    ([f"{SITE}/ccxt/binance.py", "/w/apps/oms/exchange/ccxt/venue.py"], "ccxt"),
    # aiohttp's transport callback, outside any CCXT frame: CCXT's HTTP client
    ([f"{SITE}/aiohttp/client_proto.py", "/usr/lib/python3.11/asyncio/events.py"], "ccxt_http"),
    ([f"{SITE}/yarl/_url.py"], "ccxt_http"),
    # the adapter alone: its Decimal conversion of CCXT's answer
    (["/w/apps/oms/exchange/ccxt/venue.py", "/w/apps/worker/account_task.py"], "adapter"),
    # the gateway: the store, the worker's own code, the event loop
    ([f"{SITE}/sqlalchemy/engine/base.py", "/w/apps/oms/service/execution/step.py"], "gateway"),
    ([], "gateway"),
])  # fmt: skip
def test_a_sample_is_ccxts_when_a_ccxt_frame_or_its_http_client_is_on_the_stack(
    files: list[str], kind: str
) -> None:
    assert kind_of(files) == kind
    assert kind_of(reversed(files)) == kind


def test_the_gateway_keeps_its_own_ccxt_adapter_in_the_split() -> None:
    samples = {"ccxt": 10, "ccxt_http": 3, "adapter": 4, "gateway": 13}  # 13 of 30 are CCXT's
    cpu = {"api": 1.0, "worker": 3.0, "mariadb": 0.5, "venue": 2.0}
    assert cpu_split(cpu, samples) == {"gateway": 3.2, "ccxt": 1.3, "venue": 2.0}


def test_paper_has_no_venue_process() -> None:
    split = cpu_split({"api": 1.0, "worker": 2.0, "mariadb": 0.5},
                      {"ccxt": 0, "ccxt_http": 0, "adapter": 0, "gateway": 5})  # fmt: skip
    assert split == {"gateway": 3.5, "ccxt": 0.0, "venue": 0.0}


@pytest.mark.parametrize("samples", [None, {"ccxt": 0, "ccxt_http": 0, "adapter": 0,
                                            "gateway": 0}])  # fmt: skip
def test_no_samples_no_split(samples: dict[str, int] | None) -> None:
    assert cpu_split({"api": 1.0, "worker": 2.0, "mariadb": 0.5}, samples) is None


def test_each_venue_trades_its_own_symbol() -> None:
    assert VENUES == ("paper", "wire:binance", "wire:binanceusdm")
    assert symbol("paper", "BTC/USDT:USDT") == "BTC/USDT:USDT"
    assert symbol("wire:binanceusdm", "BTC/USDT") == "BTC/USDT:USDT"
    assert symbol("wire:binance", "BTC/USDT:USDT") == "BTC/USDT"
