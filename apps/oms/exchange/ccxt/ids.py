"""Exchange ids of accounts: `paper`, `ccxt.<id>` or `ccxtpro.<id>`, where `<id>` is one CCXT has.

The reference design's clients spell a CCXT account by the bare CCXT id (`binance`); that
spelling is accepted and stored as `ccxt.binance`. CCXT is imported here only when a CCXT id has
to be checked (admin paths, not the request path).
"""

from __future__ import annotations

from apps.oms.errors import ValidationFailed

ENGINES = ("ccxt", "ccxtpro")


def _known(engine: str) -> list[str]:
    if engine == "ccxtpro":
        import ccxt.pro as ccxt_pro

        return list(ccxt_pro.exchanges)
    import ccxt

    return list(ccxt.exchanges)


def canonical_exchange_id(exchange_id: str) -> str:
    """`paper`, `ccxt.<id>` or `ccxtpro.<id>` for an id CCXT has (`binance` → `ccxt.binance`);
    ValidationFailed (422) for anything else, naming the fix."""
    text = exchange_id.strip().lower()
    if text == "paper":
        return text
    engine, dot, name = text.partition(".")
    if not dot:
        engine, name = "ccxt", text
    if engine not in ENGINES or not name:
        raise ValidationFailed(
            f"exchange_id {exchange_id!r} must be 'paper', 'ccxt.<id>' or 'ccxtpro.<id>'")
    if name not in _known(engine):
        where = "ccxt.pro.exchanges" if engine == "ccxtpro" else "ccxt.exchanges"
        raise ValidationFailed(
            f"exchange_id {exchange_id!r}: CCXT has no exchange {name!r} (see {where})",
            details={"exchange_id": exchange_id})
    return f"{engine}.{name}"
