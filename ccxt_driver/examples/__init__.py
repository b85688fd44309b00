"""Runnable examples (`python -m ccxt_driver.examples.<name>` from the repository root, against
`make run`)."""
