# System packages the integration and browser tests need, named as their commands are. Under
# CI=true they are installed when missing (CI runs as root on Debian); elsewhere a hint is
# printed and those tests skip.
APT_PACKAGES := redis-server chromium

.PHONY: test-deps
test-deps:
	@missing=""; for p in $(APT_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$${CI:-}" = "true" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	else \
		echo "note:$$missing not installed; the tests that need it will skip (apt-get install$$missing)"; \
	fi
