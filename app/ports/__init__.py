"""The interfaces the agents and the HTTP layer depend on; adapters implement them.

- `app.ports.store`: durable state, one Protocol per aggregate (the records they take with them);
- `app.ports.model`: language understanding and wording;
- `app.ports.messaging`: the inquiry queue, inquiry events, callbacks;
- `app.ports.clock`: time;
- `app.ports.services`: what the HTTP layer may ask of the agents.
"""
