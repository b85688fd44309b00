"""Secrets handling: API key generation and hashing, exchange credential encryption."""
