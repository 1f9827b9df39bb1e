# The pages in a real browser (tests/browser/): Playwright's Python package (a dev dependency)
# driving Debian's chromium (make test installs it under CI=true: make/test-deps.mk).
SCREENSHOTS_DIR := docs/screenshots

# The README's pictures: the app runs as `make run` does, in a temporary DATA_DIR, while
# chromium plays a customer and a staff member mid-conversation.
.PHONY: screenshots
screenshots: $(STAMP) ## Write PNGs of the chat page and the staff console mid-conversation to docs/screenshots/ (needs chromium)
	@command -v chromium >/dev/null || { echo "chromium is required (apt-get install chromium)" >&2; exit 1; }
	$(PY) -m tests.browser.screenshots $(SCREENSHOTS_DIR)
