"""Where the examples find the gateway: `CCXT_OMS_API_KEY`, `CCXT_OMS_ACCOUNT_ID`,
`CCXT_OMS_BASE_URL`, else the trader key and paper account `make run` wrote to
`data/demo-keys.json`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SYMBOL = os.environ.get("CCXT_OMS_SYMBOL", "BTC/USDT:USDT")


def config() -> dict[str, Any]:
    key, account = os.environ.get("CCXT_OMS_API_KEY"), os.environ.get("CCXT_OMS_ACCOUNT_ID")
    if not (key and account):
        demo = json.loads(Path(os.environ.get("CCXT_OMS_DEMO_KEYS", "data/demo-keys.json"))
                          .read_text())
        key, account = demo["api_key"]["plain"], str(demo["account"]["id"])
    return {"apiKey": key, "accountId": int(account),
            "urls": {"api": {"rest": os.environ.get("CCXT_OMS_BASE_URL", "http://127.0.0.1:8000")}}}
