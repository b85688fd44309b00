"""Pure paper matching core: markets, synthetic book, matching, balances, prices and faults.

Standard library only; no I/O. See docs/paper-venue.md.
"""
