# Infrastructure: synthesize, check, plan and apply one stack per environment.
# Included by the root Makefile, which defines PY, PYTHON and STAMP (the .venv stamp with the CDK).

ENVIRONMENTS := $(sort $(basename $(notdir $(wildcard environments/*.yaml))))
OUT := cdktf.out
TERRAFORM ?= terraform
GCLOUD ?= gcloud
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

# An unknown ENV fails every target at once, before anything runs (also under `make -n`).
ifneq ($(ENV),)
ifeq ($(filter $(ENV),$(ENVIRONMENTS)),)
$(error unknown ENV '$(ENV)': environments are $(ENVIRONMENTS))
endif
endif

# Targets that act on one environment need ENV; checked before anything runs.
ENV_TARGETS := plan apply destroy bootstrap placeholders
ifneq ($(filter $(ENV_TARGETS),$(MAKECMDGOALS)),)
ifeq ($(ENV),)
$(error ENV is required for `make $(filter $(ENV_TARGETS),$(MAKECMDGOALS))`, e.g. ENV=dev: environments are $(ENVIRONMENTS))
endif
endif
STACK_DIR = $(OUT)/stacks/$(ENV)
TF = $(TERRAFORM) -chdir=$(STACK_DIR)

# `make synth` does no work when none of its inputs changed since the last synth.
SYNTH_INPUTS := $(wildcard modules/*.py) $(shell find infra -name '*.py' 2>/dev/null) \
	$(wildcard environments/*.yaml) app/config/settings.py pyproject.toml cdktf.json
SYNTH_ENVS := $(or $(ENV),$(ENVIRONMENTS))
SYNTH_OUTPUTS := $(foreach e,$(SYNTH_ENVS),$(OUT)/stacks/$(e)/cdk.tf.json)
SYNTH_STAMP := .make/synth-$(or $(ENV),all).stamp
# A deleted output forces a synth even when the stamp is newer than every input.
SYNTH_MISSING := $(filter-out $(wildcard $(SYNTH_OUTPUTS)),$(SYNTH_OUTPUTS))

.PHONY: synth
synth: $(SYNTH_STAMP) ## Synthesize every environment (or ENV=x) into cdktf.out

# -O skips the runtime type checks jsii generates into every binding (each argument of each
# construct call, ~0.1 s per synth). The tests run without -O, so the checks still run there,
# and the jsii kernel refuses a value of the wrong type either way, naming the parameter.
$(SYNTH_STAMP): $(STAMP) $(SYNTH_INPUTS) $(if $(SYNTH_MISSING),FORCE)
	$(PY) -O -m infra synth $(if $(ENV),--env $(ENV))
	@mkdir -p $(@D) && touch $@

.PHONY: FORCE
FORCE:

# Terraform itself validates and plans each stack (a copy, with a local backend) against a
# stand-in for the Google provider that serves its schema offline (infra/standin/);
# STACK=<folder> does it for one synthesized stack folder instead of the environments.
.PHONY: validate
validate: $(STAMP) $(if $(STACK),,synth) ## terraform validate + plan of every stack (or STACK=folder) offline, against a stand-in Google provider
	$(PY) -m infra validate --terraform $(TERRAFORM) $(if $(STACK),--stack $(STACK),$(if $(ENV),--env $(ENV)))

$(CHECKOV_STAMP):
	@rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

.PHONY: checkov-venv
checkov-venv: $(CHECKOV_STAMP) ## Install the pinned checkov into .venv-checkov

.PHONY: checkov
checkov: $(STAMP) $(CHECKOV_STAMP) synth ## Scan each stack and its plan with checkov (a skip needs its reason on the resource)
	$(PY) -m infra checkov --checkov $(CHECKOV_VENV)/bin/checkov --terraform $(TERRAFORM) $(if $(ENV),--env $(ENV))

# The checkov test runs in `make test`: install checkov's own venv first.
test: $(CHECKOV_STAMP)

# The shipped environment files hold placeholders (project ids, buckets, domains that are not
# yours), each on a line marked `# REPLACE`. Every target that acts on ENV's project runs this
# first and stops, naming each value, while any line still carries the marker; synth, validate
# and the tests work with the placeholders. A prerequisite, so even under -j nothing that
# talks to Google Cloud starts before it has passed.
.PHONY: placeholders
placeholders: $(STAMP) ## Name each value of ENV=x still marked `# REPLACE` (plan, apply and the rest refuse while any is left)
	@$(PY) -m infra placeholders $(ENV)

.PHONY: plan
plan: $(STAMP) placeholders synth ## terraform init + plan for ENV=x, saved to cdktf.out/stacks/ENV/tfplan
	$(TF) init -input=false
	$(TF) plan -input=false -out=tfplan

.PHONY: apply
apply: placeholders ## Apply the plan saved by `make plan ENV=x` (nothing else)
	@test -f $(STACK_DIR)/tfplan || { echo "no saved plan in $(STACK_DIR): run make plan ENV=$(ENV) first"; exit 1; }
	$(TF) apply -input=false tfplan
	@rm -f $(STACK_DIR)/tfplan

.PHONY: destroy
destroy: $(STAMP) placeholders synth ## Destroy every resource of ENV=x (asks for confirmation)
	$(TF) init -input=false
	$(TF) destroy

.PHONY: bootstrap
bootstrap: $(STAMP) placeholders ## Create the versioned state bucket of ENV=x with gcloud (once per project)
	@set -euo pipefail; \
	project=$$($(PY) -m infra get $(ENV) project_id); \
	bucket=$$($(PY) -m infra get $(ENV) state.bucket); \
	location=$$($(PY) -m infra get $(ENV) state.location); \
	if $(GCLOUD) storage buckets describe "gs://$$bucket" --project="$$project" >/dev/null 2>&1; then \
		echo "gs://$$bucket exists"; \
	else \
		$(GCLOUD) storage buckets create "gs://$$bucket" --project="$$project" \
			--location="$$location" --uniform-bucket-level-access --public-access-prevention; \
	fi; \
	$(GCLOUD) storage buckets update "gs://$$bucket" --project="$$project" --versioning \
		--uniform-bucket-level-access --public-access-prevention; \
	echo "state bucket gs://$$bucket ready (versioned, uniform access, public access prevented)"
