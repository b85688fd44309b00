"""Benchmarks (never run by make test): each prints a JSON summary."""
