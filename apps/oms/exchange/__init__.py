"""Venue adapters: paper venue and CCXT exchanges."""
