"""The open reads' fast path: `GET /oms/positions/open` and `/oms/orders/open` answered before
FastAPI's routing and dependency solving when all they need is in memory.

These two reads are what strategies poll. Served from the read model, their own work is a
dictionary lookup (`Book.body`); FastAPI's routing, dependency solving and parameter validation
were about half of the rest of a request's CPU (docs/benchmarks-history.md → Thirteenth round). This
middleware answers a request only when **every** step can be taken without a store trip or an
error, with the same functions the route uses:

- exactly one `x-api-key` header whose principal the cache trusts from memory
  (`PrincipalCache.trusted`: current identity version, live lease, no refusal, no
  `last_used_at` to record);
- a query of the route's own parameters, each at most once, valid by the route's own model
  (`deps.OpenReadParams`), without a date filter and with `limit` not clamped;
- the account ids resolved without the store (not an admin's default of every account), none of
  them written by this process recently (`ReadModel.clean_for`: no read-your-writes check to
  make), the scope built (`reads.open_from_model`).

Anything else (a missing, unknown or doubtful key, a date filter, an unknown or repeated
parameter, an invalid value, an `OmsError` on the way) goes to the FastAPI route, which answers
it as it always has: errors are only ever produced there, so their shapes, codes and the
failed-authentication throttle are untouched (test/api/test_fast_reads.py compares the two paths).
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from apps.api.deps import OpenReadParams, required_account_ids
from apps.oms.errors import OmsError
from apps.oms.service import reads
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.service.read_model import ReadModel

PATHS = {"/oms/positions/open": "positions", "/oms/orders/open": "orders"}
PARAMETERS = frozenset(OpenReadParams.model_fields)


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
        query = parsed(scope["query_string"])
        if query is None:
            return None
        limit = query.clamped_limit()
        if query.start_date or query.end_date or limit.requested != limit.value:
            return None
        if query.account_ids is None and principal.visible_account_ids() is None:
            return None  # an admin's default (every account) is read from the store
        try:
            ids = await required_account_ids(principal, state.store, query.account_ids)
            if not model.clean_for(ids):  # read-your-writes may need the store: the route
                return None
            scope_query = reads.Query(ids, query.strategy_id, query.symbol)
            return await reads.open_from_model(model, principal, kind, scope_query, limit.value)
        except OmsError:  # a refusal (an account the key may not read…): the route answers it
            return None


@functools.lru_cache(maxsize=4096)
def parsed(query_string: bytes) -> OpenReadParams | None:
    """The query by the route's model; None if it has a parameter the route does not take, one
    given twice, or an invalid value (the route answers those). Pollers repeat their queries:
    each distinct one is validated once (the model is frozen, so the answer can be shared);
    validating every request cost ~3.5 % of P4's rate."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in params or name not in PARAMETERS:
            return None
        params[name] = value
    try:
        return OpenReadParams.model_validate(params)
    except ValidationError:
        return None

