# The reference app on this machine: no cloud account, no Node.js needed (APP_STAMP).
# BACKEND=local (default): SQLite and the local queue. BACKEND=emulators: the Firestore and
# Pub/Sub emulators and redis-server, i.e. the code paths that run on Google Cloud.
BACKEND ?= local

.PHONY: run
run: $(APP_STAMP) ## Run the app locally: api :8080, worker :8081 (BACKEND=local|emulators; Ctrl-C stops)
ifeq ($(BACKEND),local)
	$(PY) -m devtools.run_local
else ifeq ($(BACKEND),emulators)
	$(PY) -m devtools.run_emulators
else
	@echo "BACKEND: must be local or emulators, got '$(BACKEND)'" >&2; exit 2
endif

# A token of the local issuer, for the app running on the same DATA_DIR (make run).
.PHONY: token
token: $(APP_STAMP) ## Print a local token: make token CUSTOMER=C001 (or STAFF=S001); for curl's Authorization: Bearer
ifneq ($(CUSTOMER),)
	@$(PY) -m devtools.dev_token --customer '$(CUSTOMER)'
else ifneq ($(STAFF),)
	@$(PY) -m devtools.dev_token --staff '$(STAFF)'
else
	@echo "token: give CUSTOMER=C001 (C001-C008) or STAFF=S001 (S001-S003)" >&2; exit 2
endif
