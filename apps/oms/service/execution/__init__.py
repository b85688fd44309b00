"""Worker-side use cases: execute claimed commands against a venue and record the results."""
