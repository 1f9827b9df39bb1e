"""The committed sign-in bundle, app/static/vendor/agent-auth.js (web/README.md).

The pages load it as a plain file, so nothing checks it at run time but these tests: that it is
exactly what `make web` builds from the committed lock file (a hand edit or a forgotten rebuild
ships otherwise), that the build gives the same bytes every time, that it talks to no origin
but Google's identity endpoints, and that `window.AgentAuth` keeps the contract the pages use.

The rebuild needs npm and the registry: it runs once per session in a copy of the Makefile and
web/ (never the user's web/node_modules), and skips without them, failing under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require, require_binary

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "app" / "static" / "vendor"
BUILT = ("agent-auth.js", "agent-auth.LICENSES.txt")
BUNDLE = VENDOR / "agent-auth.js"
FUNCTIONS = ["start", "signIn", "signOut", "token", "onChange"]

# npm's own words for "the registry cannot be reached"; any other failure of npm ci (a lock
# file out of step with package.json, a missing version) is a failure, never a skip.
UNREACHABLE = re.compile(
    r"npm (?:error|ERR!) (?:network |code (?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET"
    r"|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|E50[0234])\b)"
)

# Every absolute URL in the bundle, and why it is there. The SDK builds its API addresses from
# bare host names (below); these literals are script loaders it registers at load time whether
# or not they are used, and two placeholders. Nothing loads code from a CDN.
URLS = {
    "https://www.google.com/recaptcha/enterprise.js?render=": (
        "reCAPTCHA Enterprise: loaded only if the project enforces reCAPTCHA on password sign-in"
    ),
    "https://www.google.com/recaptcha/api.js": "reCAPTCHA v2 of phone sign-in: never loaded",
    "https://apis.google.com/js/api.js": (
        "Google's iframe loader of popup/redirect sign-in: never loaded, as auth.js gives"
        " initializeAuth no popupRedirectResolver"
    ),
    "http://localhost": "the requestUri placeholder of signInWithIdp's body: never fetched",
    "http://": "a scheme prefix the SDK strips from emulator hosts",
    "https://": "a scheme prefix the SDK strips from emulator hosts",
}
HOSTS = {
    "identitytoolkit.googleapis.com": "Identity Toolkit API: sign-in, account lookup",
    "securetoken.googleapis.com": "Secure Token API: ID token refresh",
    "www.google.com": "reCAPTCHA's scripts (URLS)",
    "apis.google.com": "the popup/redirect iframe loader (URLS)",
}
NOT_HOSTS = {
    **dict.fromkeys(
        ("google.com", "facebook.com", "github.com", "twitter.com", "apple.com"),
        "sign-in provider ids (GoogleAuthProvider.PROVIDER_ID ...), not addresses",
    ),
    "cloudworkstations.dev": "a suffix the SDK compares emulator hosts with",
}
URL = re.compile(r"\bhttps?://[^\s\"'`\\)]*")
# Dotted names ending in a common top-level domain: "this.app" and the like are code, so .app
# is not one of them.
HOST = re.compile(r"(?<![\w$])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|dev)\b")

# load(page): the bundle (argv[2]) run in a page whose globals are `page`, as window and self.
LOAD = """
const vm = require("node:vm"), fs = require("node:fs");
function load(page) {
  page.window = page;
  page.self = page;
  vm.createContext(page);
  vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), page, { filename: "agent-auth.js" });
  return page.AgentAuth;
}
"""

LOADS = """
const page = {};
const auth = load(page);
console.log(JSON.stringify({
  globals: Object.getOwnPropertyNames(page).filter((k) => k !== "window" && k !== "self"),
  kinds: Object.fromEntries(Object.keys(auth).map((k) => [k, typeof auth[k]])),
  frozen: Object.isFrozen(auth),
}));
"""

# The bundle in a page whose fetch plays Identity Platform: the password "right" signs in,
# "wrong" and "many" get the API's error answers; every URL fetched is recorded.
SIGNS_IN = r"""
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64")
  .replace(/\+/g, "-").replace(/\//g, "_");
const now = Math.floor(Date.now() / 1000);
const jwt = (n) => `${b64({ alg: "none" })}.${b64({ sub: "u1", iat: now, exp: now + 3600, n })}.x`;
const ERRORS = { wrong: "INVALID_LOGIN_CREDENTIALS", many: "TOO_MANY_ATTEMPTS_TRY_LATER" };
const tokens = (n) => ({ idToken: jwt(n), refreshToken: `r${n}`, expiresIn: "3600" });
const API = {
  "accounts:signInWithPassword": (b) => b.password === "right"
    ? [200, { localId: "u1", email: b.email, ...tokens(1) }]
    : [400, { error: { code: 400, message: ERRORS[b.password] } }],
  "accounts:lookup": () => [200, { users: [{ localId: "u1", email: "ann@example.com" }] }],
  token: () => [200, { access_token: jwt(2), refresh_token: "r2", expires_in: "3600" }],
};
const fetched = [];
async function fetch(url, init) {
  fetched.push(String(url));
  const text = String(init.body);
  const form = () => Object.fromEntries(new URLSearchParams(text));
  const body = text.startsWith("{") ? JSON.parse(text) : form();
  const [status, json] = API[new URL(url).pathname.split("/").pop()](body);
  const headers = { "content-type": "application/json" };
  return new Response(JSON.stringify(json), { status, headers });
}
const stored = new Map();
const page = {
  fetch, Headers, Response, URL, URLSearchParams, console, clearTimeout,
  setTimeout: (f, ms) => setTimeout(f, ms).unref(),
  navigator: { userAgent: "node", onLine: true },
  location: { protocol: "https:", href: "https://shop.example/", hostname: "shop.example" },
  localStorage: {
    getItem: (k) => (stored.has(k) ? stored.get(k) : null),
    setItem: (k, v) => stored.set(k, String(v)),
    removeItem: (k) => stored.delete(k),
  },
  addEventListener() {}, removeEventListener() {},
};
const auth = load(page);
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));
const failure = (e) => [e.code, e.message, Object.prototype.toString.call(e) === "[object Error]"];
const attempt = async (f) => { try { await f(); return null; } catch (e) { return failure(e); } };
const config = { apiKey: "key", authDomain: "shop.firebaseapp.com", projectId: "shop" };
(async () => {
  const out = { before: await attempt(() => auth.token()) };
  out.incomplete = await attempt(() => auth.start({ apiKey: "key" }));
  await auth.start(config);
  out.again = await attempt(() => auth.start({ ...config }));
  out.other = await attempt(() => auth.start({ ...config, projectId: "elsewhere" }));
  const seen = [];
  const off = auth.onChange((user) => seen.push(user && [user.uid, user.email, user.token]));
  await settle();
  out.signedOut = await auth.token();
  out.wrong = await attempt(() => auth.signIn("ann@example.com", "wrong"));
  out.many = await attempt(() => auth.signIn("ann@example.com", "many"));
  out.user = await auth.signIn("ann@example.com", "right");
  await settle();
  out.kept = [...stored.keys()];
  out.token = await auth.token();
  out.fresh = await auth.token(true);
  await settle();
  await auth.signOut();
  await settle();
  out.after = await auth.token();
  off();
  page.fetch = async () => { throw new TypeError("Failed to fetch"); };
  out.offline = await attempt(() => auth.signIn("ann@example.com", "right"));
  Object.assign(out, { seen, fetched, left: [...stored.keys()], jwt: [jwt(1), jwt(2)] });
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def node(script: str, *args: str) -> Any:
    """Run `script` (which may call load) under node with `args`; its JSON output, parsed."""
    done = subprocess.run(
        [require_binary("node"), "-", *args],
        input=LOAD + script,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass(frozen=True)
class Rebuilt:
    """A copy of the Makefile and web/ after `make web`, with npm ci done."""

    project: Path

    @property
    def vendor(self) -> Path:
        return self.project / "app" / "static" / "vendor"

    def make(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL"}}
        return subprocess.run(
            [require_binary("make"), "--no-print-directory", *args],
            cwd=self.project,
            env={**env, "npm_config_fetch_retries": "1"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rebuilt]:
    """`make web` once per session, in a copy: the one npm ci of these tests.

    The copy's node_modules (some 270 MB) goes afterwards; pytest keeps its last temp folders.
    """
    require_binary("npm")
    require_binary("node")
    project = tmp_path_factory.mktemp("project")
    shutil.copy2(REPO / "Makefile", project / "Makefile")
    shutil.copytree(REPO / "make", project / "make")
    shutil.copytree(REPO / "web", project / "web", ignore=shutil.ignore_patterns("node_modules"))
    copy = Rebuilt(project)
    done = copy.make("web")
    if done.returncode != 0:
        if unreachable := UNREACHABLE.search(done.stdout + done.stderr):
            require(False, f"the npm registry cannot be reached ({unreachable.group(0)})")
        pytest.fail(f"make web failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    yield copy
    shutil.rmtree(project / "web" / "node_modules", ignore_errors=True)


def test_the_committed_bundle_is_what_make_web_builds_from_the_lock_file(rebuilt: Rebuilt) -> None:
    """A hand edit, or a lock file bumped without `make web`, would ship unnoticed."""
    for name in BUILT:
        assert (rebuilt.vendor / name).read_bytes() == (VENDOR / name).read_bytes(), (
            f"app/static/vendor/{name} is not what `make web` builds from web/: "
            "run `make web` and commit the result"
        )


def test_a_second_build_gives_the_same_bytes(rebuilt: Rebuilt, tmp_path: Path) -> None:
    """The committed file can only be checked against a rebuild if every build is the same."""
    build = [require_binary("node"), "web/build.mjs", "--outdir", str(tmp_path)]
    done = subprocess.run(build, cwd=rebuilt.project, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    for name in BUILT:
        assert (tmp_path / name).read_bytes() == (rebuilt.vendor / name).read_bytes(), name


def test_make_web_installs_again_only_when_the_lock_file_changes(rebuilt: Rebuilt) -> None:
    """npm ci takes a while and needs the registry: a rebuild alone must not run it."""
    assert "npm ci" not in rebuilt.make("-n", "web").stdout
    lock = rebuilt.project / "web" / "package-lock.json"
    stamp = rebuilt.project / "web" / "node_modules" / ".make-npm-ci.stamp"
    later = stamp.stat().st_mtime + 10
    os.utime(lock, (later, later))
    assert "npm ci --no-audit --no-fund --ignore-scripts" in rebuilt.make("-n", "web").stdout


def test_the_bundle_names_no_origin_but_googles_identity_endpoints() -> None:
    """The pages work offline with no CDN: any new address must be reviewed and listed here."""
    text = BUNDLE.read_text(encoding="utf-8")
    urls = set(URL.findall(text))
    assert urls <= URLS.keys(), f"unlisted URLs: {sorted(urls - URLS.keys())}"
    names = set(HOST.findall(text))
    unknown = names - HOSTS.keys() - NOT_HOSTS.keys()
    assert not unknown, f"hosts in the bundle that are not Google's identity endpoints: {unknown}"


def test_the_bundle_holds_firebase_app_and_auth_only() -> None:
    """Tree shaking keeps firestore, analytics and the rest out; the notices list what is in."""
    notices = (VENDOR / "agent-auth.LICENSES.txt").read_text(encoding="utf-8")
    listed = re.findall(r"^  (\S+) \S+ \((.+)\)$", notices, flags=re.MULTILINE)
    assert dict(listed) == {
        "@firebase/app": "Apache-2.0",
        "@firebase/auth": "Apache-2.0",
        "@firebase/component": "Apache-2.0",
        "@firebase/logger": "Apache-2.0",
        "@firebase/util": "Apache-2.0",
        "firebase": "Apache-2.0",
        "idb": "ISC",
    }
    assert len(listed) == len(dict(listed)), "a package is bundled twice"
    assert "agent-auth.LICENSES.txt" in BUNDLE.read_text(encoding="utf-8").splitlines()[0]


def test_the_bundle_defines_agent_auth_with_its_five_functions_and_nothing_else() -> None:
    """The pages call these five by name; loading must need no browser API but `window`."""
    loaded = node(LOADS, str(BUNDLE))
    assert loaded == {
        "globals": ["AgentAuth"],
        "kinds": dict.fromkeys(FUNCTIONS, "function"),
        "frozen": True,
    }


def test_agent_auth_signs_in_refreshes_and_signs_out_against_identity_platform() -> None:
    """The pages rely on these answers: a user with a token, short errors, null when out."""
    out = node(SIGNS_IN, str(BUNDLE))
    first, refreshed = out["jwt"]
    not_started = ["agent-auth/not-started", "AgentAuth.start(config) has not been called.", True]
    assert out["before"] == not_started
    assert out["incomplete"][0] == "agent-auth/invalid-config"
    assert "authDomain, projectId" in out["incomplete"][1]
    assert out["again"] is None, "start with the same config again is harmless"
    assert out["other"][0] == "agent-auth/already-started"
    assert out["signedOut"] is None
    assert out["wrong"] == ["auth/invalid-credential", "Wrong email or password.", True]
    assert out["many"][:1] == ["auth/too-many-requests"]
    assert out["many"][1].startswith("Too many attempts.")
    assert out["user"] == {"uid": "u1", "email": "ann@example.com", "token": first}
    assert out["kept"] == ["firebase:authUser:key:[DEFAULT]"], "local persistence"
    assert (out["token"], out["fresh"], out["after"]) == (first, refreshed, None)
    assert out["left"] == []
    assert out["offline"][0] == "auth/network-request-failed"
    assert out["offline"][1].startswith("Could not reach the sign-in service.")
    user = ["u1", "ann@example.com"]
    assert out["seen"] == [None, [*user, first], [*user, refreshed], None]
    assert {url.split("?")[0] for url in out["fetched"]} == {
        "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword",
        "https://identitytoolkit.googleapis.com/v1/accounts:lookup",
        "https://securetoken.googleapis.com/v1/token",
    }
