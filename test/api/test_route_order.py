"""The API matches routes in the order its routers are included, hot ones first
(`apps.api.app.ROUTERS`). That order may only change the cost, never the answer: no route of one
router may match a path (or path pattern) of another router for the same method."""

import re

from fastapi.routing import APIRoute
from starlette.routing import WebSocketRoute

from apps.api.app import ROUTERS


def test_no_route_of_one_router_matches_a_path_of_another() -> None:
    routes = []
    for index, router in enumerate(ROUTERS):
        for route in router.routes:
            if isinstance(route, APIRoute):
                routes += [(index, method, route.path) for method in route.methods]
            elif isinstance(route, WebSocketRoute):
                routes.append((index, "WS", route.path))
    assert ("GET", "/oms/positions/open") in {(m, p) for _, m, p in routes}
    assert len({i for i, _, _ in routes}) == len(ROUTERS)
    for index, method, path in routes:
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        for other_index, other_method, other_path in routes:
            if other_index != index and other_method == method:
                assert not pattern.match(other_path), (method, path, other_path)
