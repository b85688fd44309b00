"""Whose work a sample of the worker's CPU is, from the files of its stack's frames: CCXT's (a
frame of the ccxt package), its HTTP client's (aiohttp outside such a frame: the worker uses
aiohttp for nothing else), the gateway's CCXT adapter's (`CcxtVenue`, outside both) or the
gateway's (the rest). Standard library only: the sampling hook imports it at interpreter
start (bench/cpu_sampling/sitecustomize.py)."""

from __future__ import annotations

from collections.abc import Iterable

KINDS = ("ccxt", "ccxt_http", "adapter", "gateway")
CCXT_FRAME = "site-packages/ccxt/"
#: CCXT's HTTP client (aiohttp and what it parses URLs and headers with)
HTTP_FRAMES = ("site-packages/aiohttp/", "site-packages/yarl/", "site-packages/multidict/")
ADAPTER_FRAME = "apps/oms/exchange/ccxt/"


def kind_of(files: Iterable[str]) -> str:
    """The kind of one sample, given the files of its frames (any order)."""
    found = "gateway"
    for name in files:
        if CCXT_FRAME in name:
            return "ccxt"
        if any(h in name for h in HTTP_FRAMES):
            found = "ccxt_http"
        elif ADAPTER_FRAME in name and found == "gateway":
            found = "adapter"
    return found
