"""The CDK Terrain app: one stack per environment, wired from the modules and `environments/`.

Entry point: `python -m infra synth|validate|checkov|get` (see `infra.__main__`). Nothing here
imports the provider bindings at module import time, so config checks stay fast.
"""
