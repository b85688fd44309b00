"""HTTP routes, one module per area; each route parses, calls one service function, returns a schema."""
