"""Use cases and ports (Protocols) between the domain and the adapters."""
