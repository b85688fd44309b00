"""bench/wire.py's pure part: the worker's on-CPU samples attributed to CCXT or to the gateway
(py-spy's raw stacks), and the CPU per command split between the gateway, CCXT and the venue;
no process, no profiler."""

from __future__ import annotations

import pytest

from bench.wire import VENUES, attribute, cpu_split, symbol

SITE = "/venv/lib/python3.11/site-packages"
RAW = "\n".join([
    # a CCXT call: the ccxt package on the stack (its aiohttp request under it counts as CCXT)
    f"run (asyncio/events.py:84);create_order ({SITE}/ccxt/async_support/binance.py:6100);"
    f"fetch ({SITE}/aiohttp/client.py:500) 7",
    # the adapter above CCXT, while CCXT works: CCXT's
    f"create_order (/w/apps/oms/exchange/ccxt/venue.py:140);"
    f"parse_order ({SITE}/ccxt/binance.py:5000) 3",
    # aiohttp's transport callback, outside any CCXT frame: CCXT's HTTP client
    f"_run (asyncio/events.py:84);data_received ({SITE}/aiohttp/client_proto.py:300) 2",
    f"_run (asyncio/events.py:84);__init__ ({SITE}/yarl/_url.py:10) 1",
    # the adapter alone: its Decimal conversion of CCXT's answer
    "decimals (/w/apps/oms/exchange/ccxt/venue.py:45) 4",
    # the gateway: the store, the worker's own code
    f"execute ({SITE}/sqlalchemy/engine/base.py:1400) 10",
    "run_next (/w/apps/oms/service/execution/step.py:20) 3",
    "",
    "not a sample line",
])  # fmt: skip


def test_samples_are_ccxts_when_a_ccxt_frame_or_its_http_client_is_on_the_stack() -> None:
    assert attribute(RAW) == {"ccxt": 10, "ccxt_http": 3, "adapter": 4, "gateway": 13}


def test_the_gateway_keeps_its_own_ccxt_adapter_in_the_split() -> None:
    samples = attribute(RAW)  # 13 of 30 samples are CCXT's
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
