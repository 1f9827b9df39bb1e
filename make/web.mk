# The sign-in bundle of the pages (web/README.md). Included by the root Makefile.
# app/static/vendor/agent-auth.js and agent-auth.LICENSES.txt are committed: the app and its
# image never need Node.js; only rebuilding them does. npm ci runs again only when the lock
# file (or package.json, which it must match) changed since the last install.
WEB_NPM_STAMP := web/node_modules/.make-npm-ci.stamp

# --ignore-scripts: the bundle needs no install script, and @firebase/util's would bake the
# FIREBASE_WEBAPP_CONFIG environment variable of this shell into the bundle.
$(WEB_NPM_STAMP): web/package-lock.json web/package.json
	@command -v npm >/dev/null || { echo "npm (Node.js 20+) is required to rebuild the sign-in bundle; the app itself needs none" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

.PHONY: web
web: $(WEB_NPM_STAMP) ## Rebuild the committed sign-in bundle app/static/vendor/agent-auth.js from web/ (npm ci + esbuild, reproducible)
	node web/build.mjs
