"""The open reads' fast path: `GET /oms/positions/open` and `/oms/orders/open` answered before
FastAPI's routing and dependency solving when all they need is in memory.

These two reads are what strategies poll. Served from the read model, their own work is a
dictionary lookup (`Book.body`); FastAPI's routing, dependency solving and parameter validation
were about half of the rest of a request's CPU (docs/benchmarks.md → Thirteenth round). This
middleware answers a request only when **every** step can be taken without a store trip or an
error, with the same functions the route uses:

- exactly one `x-api-key` header whose principal the cache trusts from memory
  (`PrincipalCache.trusted`: current identity version, live lease, no refusal, no
  `last_used_at` to record);
- a query of `account_ids`, `strategy_id`, `symbol`, `limit` only, each at most once, each valid
  as the route declares it (digits within range, lengths within the limits), `limit` not clamped;
- the account ids resolved without the store (not an admin's default of every account), none of
  them written by this process recently (`ReadModel.clean_for`: no read-your-writes check to
  make), the scope built (`reads.open_from_model`).

Anything else (a missing, unknown or doubtful key, a date filter, an unknown or repeated or empty
parameter, any error) goes to the FastAPI route, which answers it as it always has: errors are
only ever produced there, so their shapes, codes and the failed-authentication throttle are
untouched (test/api/test_fast_reads.py compares the two paths).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from apps.api.deps import (
    ACCOUNT_IDS_MAX_LENGTH,
    DEFAULT_LIMIT,
    MAX_ID,
    MAX_LIMIT,
    SYMBOL_MAX_LENGTH,
    required_account_ids,
)
from apps.oms.service import reads
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.service.read_model import ReadModel

PATHS = {"/oms/positions/open": "positions", "/oms/orders/open": "orders"}
DIGITS = re.compile(r"[0-9]{1,19}")


def _int(text: str, low: int) -> int | None:
    if not DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= MAX_ID else None


class FastOpenReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            kind = PATHS.get(scope["path"])
            if kind is not None:
                blob = await self.answer(scope, kind)
                if blob is not None:
                    self.served += 1
                    await Response(blob, media_type="application/json")(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def answer(self, scope: Scope, kind: str) -> bytes | None:
        """The body the route would send with 200, or None: let the route answer."""
        state = scope["app"].state
        model: ReadModel | None = getattr(state, "read_model", None)
        cache: PrincipalCache | None = getattr(state, "principal_cache", None)
        if model is None or cache is None:
            return None
        keys = [value for name, value in scope["headers"] if name == b"x-api-key"]
        if len(keys) != 1:
            return None
        principal = cache.trusted(keys[0].decode("latin-1"))
        if principal is None:
            return None
        params: dict[str, str] = {}
        for name, value in parse_qsl(scope["query_string"].decode("latin-1"),
                                     keep_blank_values=True):  # fmt: skip
            if name in params or not value:
                return None
            params[name] = value
        account_ids = params.pop("account_ids", None)
        strategy_text = params.pop("strategy_id", None)
        symbol = params.pop("symbol", None)
        limit = _int(params.pop("limit", str(DEFAULT_LIMIT)), 1)
        strategy_id = None if strategy_text is None else _int(strategy_text, 0)
        if (
            params  # anything else, e.g. a date filter
            or limit is None
            or limit > MAX_LIMIT
            or (strategy_text is not None and strategy_id is None)
            or (account_ids is not None and len(account_ids) > ACCOUNT_IDS_MAX_LENGTH)
            or (symbol is not None and len(symbol) > SYMBOL_MAX_LENGTH)
        ):
            return None
        if account_ids is None and principal.visible_account_ids() is None:
            return None  # an admin's default (every account) is read from the store
        try:
            ids = await required_account_ids(principal, state.store, account_ids)
            if not model.clean_for(ids):  # read-your-writes may need the store: the route
                return None
            query = reads.Query(ids, strategy_id, symbol)
            return await reads.open_from_model(model, principal, kind, query, limit)
        except Exception:
            return None
