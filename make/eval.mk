# The support agent's evaluation set (evals/). Included by the root Makefile (PY, APP_STAMP):
# the app's dependencies are all it needs.
MODEL ?= rules

.PHONY: eval
eval: $(APP_STAMP) ## Run the agent evaluation (evals/, MODEL=rules|gemini); fails below its thresholds
	$(PY) -m evals --model $(MODEL)
