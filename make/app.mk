# The reference app on this machine: no cloud account needed.
.PHONY: run
run: $(STAMP) ## Run the app locally: api on :8080, worker on :8081 (Ctrl-C stops both)
	$(PY) -m app.run_local
