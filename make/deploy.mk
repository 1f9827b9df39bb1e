# Container: build the app image with Cloud Build, roll it out to both Cloud Run services.
# Included by the root Makefile (PY, STAMP). An unknown ENV is refused for every target by
# make/infra.mk before anything runs; here, build and deploy also require ENV, and refuse while
# ENV's file holds a value marked `# REPLACE` (make/infra.mk's `placeholders`).
#
# Where the image goes follows infra/stack.py: the compute module's repository is named after
# the environment's name_prefix, so its image_base is REGION-docker.pkg.dev/PROJECT/NAME_PREFIX,
# and the services are NAME_PREFIX-api and NAME_PREFIX-worker. tests/infra/test_deploy.py holds
# these to the synthesized stacks (their `image_base` output and Cloud Run service names).

GCLOUD ?= gcloud
DEPLOY_TARGETS := build deploy
# What goes into the image: a build from uncommitted changes here would carry a commit's tag
# without being that commit.
IMAGE_INPUTS := Dockerfile .dockerignore requirements/app.txt container app

ifneq ($(filter $(DEPLOY_TARGETS),$(MAKECMDGOALS)),)
ifeq ($(ENV),)
$(error ENV is required for `make $(filter $(DEPLOY_TARGETS),$(MAKECMDGOALS))`, e.g. ENV=dev: environments are $(sort $(basename $(notdir $(wildcard environments/*.yaml)))))
endif
endif

# One value of ENV's config, read once and only when a recipe needs it; empty is an error.
deploy_config = $(or $(shell $(PY) -m infra get $(ENV) $(1)),$(error cannot read $(1) of ENV=$(ENV) with `$(PY) -m infra get $(ENV) $(1)`))
DEPLOY_PROJECT = $(eval DEPLOY_PROJECT := $(call deploy_config,project_id))$(DEPLOY_PROJECT)
DEPLOY_REGION = $(eval DEPLOY_REGION := $(call deploy_config,region))$(DEPLOY_REGION)
DEPLOY_PREFIX = $(eval DEPLOY_PREFIX := $(call deploy_config,name_prefix))$(DEPLOY_PREFIX)

# The image of this commit; IMAGE_TAG=t on the command line names another one.
GIT_SHORT_SHA = $(eval GIT_SHORT_SHA := $(or $(shell git rev-parse --short HEAD 2>/dev/null),$(error not a git checkout with a commit: name the image with IMAGE_TAG=<tag>)))$(GIT_SHORT_SHA)
IMAGE_TAG ?= $(GIT_SHORT_SHA)
IMAGE_BASE = $(DEPLOY_REGION)-docker.pkg.dev/$(DEPLOY_PROJECT)/$(DEPLOY_PREFIX)
IMAGE = $(IMAGE_BASE)/app:$(IMAGE_TAG)
GCLOUD_TARGET = --region=$(DEPLOY_REGION) --project=$(DEPLOY_PROJECT)

# Only a tag taken from git needs a clean tree; expanded with the recipe, so `make -n` checks too.
image_inputs_committed = $(if $(filter file,$(origin IMAGE_TAG)),$(if $(shell git status --porcelain -- $(IMAGE_INPUTS)),$(error uncommitted changes in $(IMAGE_INPUTS): commit them first, or name the image with IMAGE_TAG=<tag>)))

.PHONY: build
build: $(STAMP) placeholders ## Build the app image with Cloud Build into ENV=x's Artifact Registry (tag: git short sha)
	$(image_inputs_committed)$(GCLOUD) builds submit --tag=$(IMAGE) --ignore-file=.dockerignore $(GCLOUD_TARGET) .

# The worker first: it must understand what a new api publishes before the api publishes it.
.PHONY: deploy
deploy: $(STAMP) placeholders ## Roll the image of this commit (or IMAGE_TAG=t) out to ENV=x's worker, then api
	@$(GCLOUD) artifacts docker images describe $(IMAGE) --project=$(DEPLOY_PROJECT) >/dev/null \
		|| { echo "image $(IMAGE) not found: run make build ENV=$(ENV) first" >&2; exit 1; }
	$(GCLOUD) run services update $(DEPLOY_PREFIX)-worker --image=$(IMAGE) $(GCLOUD_TARGET)
	$(GCLOUD) run services update $(DEPLOY_PREFIX)-api --image=$(IMAGE) $(GCLOUD_TARGET)
