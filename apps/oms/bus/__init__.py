"""The events bus (NATS JetStream, docs/events-bus.md): the subject scheme and message format,
the connection, the publisher the workers run, and wake-ups over core NATS."""
