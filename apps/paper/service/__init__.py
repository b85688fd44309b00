"""Operating the shared paper market: its price source and an account's synthetic book, and acts
of an outsider on the paper venue (the API routes and the CLI call these)."""
