"""`WS /ws`: the outbox stream (one tailer per API process fanning out to every connection),
subscriptions with snapshots and resume, and commands over the socket."""
