"""Tools for a developer's machine (`make run`, `make token`): never shipped in the container."""
