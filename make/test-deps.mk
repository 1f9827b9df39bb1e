# System packages the tests need. Installed when missing (CI runs as root on Debian).
.PHONY: test-deps
test-deps:
	@true
