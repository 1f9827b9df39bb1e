# Benchmarks and long fault tests. Included by the root Makefile (PY, STAMP, test-deps).

.PHONY: bench
bench: $(STAMP) ## Measure synth, cold start, HTTP and inquiry figures; writes benchmarks/results.json
	$(PY) -m benchmarks

.PHONY: soak
soak: $(STAMP) test-deps ## Long fault tests (worker killed with production leases, store outages)
	$(PY) -m pytest tests/faults -m soak -p no:cacheprovider $(PYTEST_ARGS)
