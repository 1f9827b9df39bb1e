"""`make bench`: how fast the blueprint is, each figure against a baseline measured in the same run.

Absolute times drift between machines and with load, so every figure is paired with a floor
measured beside it (an empty synth, a bare Flask app under the same gunicorn settings, the
accept round trip) and reported with the ratio. Nothing here asserts a time; `python -m
benchmarks` prints a table and writes `benchmarks/results.json`.
"""
