"""The admin endpoints of a served venue's faults (unauthenticated, like the rest of `/admin`:
the venue binds 127.0.0.1 for its local operator):

- `GET /admin/faults`: the plan, each fault's hits so far, the clock's skew;
- `POST /admin/faults` (`fault_plan.parse_plan`'s JSON): set the plan, counts start again;
- `DELETE /admin/faults`: no faults, no skew;
- `POST /admin/orders/cancel` `{"account_id", "order_id" | "client_order_id",
  "status": "canceled" | "expired"}`: the venue cancels or expires an open order itself, and
  the account's private stream says so;
- `GET /admin/limits`, `POST /admin/limits` `{"weight_limit", "window_ms", "ban_after",
  "ban_s"}`: Binance's request-weight limit per client address (0: off), as `--weight-limit`
  sets it; counts and bans start again."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.wire.fault_plan import parse_plan

if TYPE_CHECKING:
    from apps.paper.wire.server import WireVenue


def admin_routes(venue: WireVenue) -> list[Route]:
    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                data = json.loads((await request.body()) or b"{}", parse_float=Decimal)
                if not isinstance(data, dict):
                    raise ValueError("the body must be a JSON object")
                venue.gate.set(parse_plan(data))
            except ValueError as exc:  # JSONDecodeError is one
                return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        elif request.method == "DELETE":
            venue.gate.clear()
        return JSONResponse({"ok": True, **venue.gate.show()})

    async def cancel(request: Request) -> Response:
        try:
            data: dict[str, Any] = json.loads(await request.body())
            status = str(data.get("status", "canceled"))
            if status not in ("canceled", "expired"):
                raise ValueError("status must be canceled or expired")
            order = await venue.cancel_by_venue(int(data["account_id"]),
                                                str(data.get("order_id") or ""),
                                                str(data.get("client_order_id") or ""),
                                                expired=status == "expired")  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        except ccxt.OrderNotFound as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=404)
        return JSONResponse({"ok": True, "order_id": order["id"], "status": status})

    return [Route("/admin/faults", faults, methods=["GET", "POST", "DELETE"]),
            _limits_route(venue),
            Route("/admin/orders/cancel", cancel, methods=["POST"])]


def _limits_route(venue: WireVenue) -> Route:
    async def limits(request: Request) -> Response:
        if request.method == "POST":
            try:
                data: dict[str, Any] = json.loads((await request.body()) or b"{}")
                venue.weights.configure(int(data.get("weight_limit", 0)),
                                        int(data.get("window_ms", 60_000)),
                                        int(data.get("ban_after", 3)), int(data.get("ban_s", 120)))
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, **venue.weights.show()})

    return Route("/admin/limits", limits, methods=["GET", "POST"])
