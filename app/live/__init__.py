"""Live updates: server-sent event streams of a session's new messages.

- `hub`: in-process wake-ups, one condition per watched session.
- `notifying_store`: the Store decorator that tells the hub (and Redis) after every write that
  appends messages.
- `redis_channel`: the same notifications across processes and instances (Redis pub/sub).
- `feed`: one stream's loop (read what is new, in seq order, once; wait; heartbeat; end) and
  the per-process cap on open streams.
- `sse`: the bytes of the event-stream format.
"""
