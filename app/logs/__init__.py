"""Structured logs for Cloud Logging: the handler, its fast request line, and the set-up."""
