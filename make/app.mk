# The reference app on this machine: no cloud account needed.
# BACKEND=local (default): SQLite and the local queue. BACKEND=emulators: the Firestore and
# Pub/Sub emulators and redis-server, i.e. the code paths that run on Google Cloud.
BACKEND ?= local

.PHONY: run
run: $(STAMP) ## Run the app locally: api :8080, worker :8081 (BACKEND=local|emulators; Ctrl-C stops)
ifeq ($(BACKEND),local)
	$(PY) -m app.run_local
else ifeq ($(BACKEND),emulators)
	$(PY) -m app.run_emulators
else
	@echo "BACKEND: must be local or emulators, got '$(BACKEND)'" >&2; exit 2
endif
