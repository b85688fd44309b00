"""Pure, synchronous core: standard library only, Decimal money, no I/O."""
