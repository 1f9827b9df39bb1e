"""A stand-in for the Google provider, so that Terraform itself validates and plans offline.

`schema` derives the provider's Terraform schema from the pinned bindings, `stubs` generates the
plugin protocol's message classes, `server` is the provider process, `mirror` installs it
where `terraform init` finds it, and `run` checks a stack with init, validate and plan. See
docs/standin-provider.md for what it reproduces of the real provider and what it cannot.
"""
