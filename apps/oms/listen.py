"""Listening ports of the processes: a busy port is found before a process starts anything
else, and the refusal says how to pick another port."""

from __future__ import annotations

import socket

from apps.oms.errors import OmsError


def port_busy(host: str, port: int) -> OSError | None:
    """The error binding `host:port` would raise now, or None when it is free. The probe binds
    as uvicorn does (`SO_REUSEADDR`), so a recently closed connection does not count as busy."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def port_refused(what: str, host: str, port: int, error: OSError, hint: str) -> OmsError:
    """The one-line refusal for a port that cannot be used; `hint` shows how to pick another."""
    reason = error.strerror or str(error)
    return OmsError(f"{what}: cannot listen on {host}:{port} ({reason}; another process is "
                    f"probably using it). Pick another port: {hint}",
                    code="port_unavailable", details={"host": host, "port": port})  # fmt: skip
