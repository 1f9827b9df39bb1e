# The support agent's evaluation set (evals/). Included by the root Makefile (PY, STAMP).
MODEL ?= rules

.PHONY: eval
eval: $(STAMP) ## Run the agent evaluation (evals/, MODEL=rules|gemini); fails below its thresholds
	$(PY) -m evals --model $(MODEL)
