"""Reference app: a customer-service platform mixing stateless, stateful and event-driven agents."""
