"""The pages, their files and the sign-in config: public, holding no data, strictly sandboxed.

The browser tests (tests/browser) use the pages; these hold the HTTP side: who may fetch what,
the headers that confine the pages, the caching of their files, and that nothing outside
app/static is ever served.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.config.settings import Settings, SettingsError
from app.http import create_app
from app.http.pages import IDENTITY_PLATFORM_ORIGINS, STATIC_DIR
from app.identity.setup import Identity

PAGES = {"/": "chat.html", "/staff": "staff.html"}


@pytest.fixture
def production_app(settings, fake_services, identity):
    """The api as on Cloud Run: Identity Platform sign-in (no local issuer, no /dev/token)."""
    production = replace(
        settings,
        auth_mode="identity_platform",
        auth_project_id="acme-shop-prod",
        web_api_key="AIzaSyA-browser-key_0123456789abcdefghi",
    )
    return create_app(production, fake_services, identity=Identity(identity.authenticator))


class _Markup(HTMLParser):
    """What the tests check in a page: scripts, links, inline handlers and styles, labels."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.inline: list[str] = []
        self.labels: dict[str, str] = {}
        self._label_for: str | None = None
        self.ids: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids[str(attributes["id"])] = {"tag": tag, **attributes}
        if tag == "script":
            self.scripts.append(attributes)
        for name in ("src", "href"):
            if attributes.get(name):
                self.links.append(str(attributes[name]))
        self.inline += [name for name in attributes if name.startswith("on") or name == "style"]
        if tag == "style":
            self.inline.append("<style>")
        if tag == "label":
            self._label_for = attributes.get("for")

    def handle_data(self, data):
        if self._label_for and data.strip():
            self.labels[self._label_for] = data.strip()

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_for = None


def _markup(html: str) -> _Markup:
    parser = _Markup()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_are_public_and_hold_no_data(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"
    html = response.get_data(as_text=True)
    # The same bytes for everyone: no customer, staff member, session or token in them.
    assert not re.search(r"\b[CS]\d{3}\b|eyJ|Bearer", html)
    assert html == anonymous.get(path).get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_run_no_inline_code_and_load_nothing_from_elsewhere(anonymous, path):
    markup = _markup(anonymous.get(path).get_data(as_text=True))
    assert markup.scripts and all(script.get("src") for script in markup.scripts)
    assert markup.inline == []
    assert all(link.startswith("/static/") for link in markup.links), markup.links
    for link in markup.links:  # each file linked with its digest, and served
        assert re.fullmatch(r"/static/[\w./-]+\?v=[0-9a-f]{12}", link), link
        assert anonymous.get(link).status_code == 200, link


def test_the_pages_keep_the_accessible_names_of_the_contract(anonymous):
    chat = _markup(anonymous.get("/").get_data(as_text=True))
    assert chat.labels["customer"] == "Customer" and chat.ids["customer"]["tag"] == "select"
    assert chat.labels["message"] == "Message" and chat.ids["message"]["tag"] == "textarea"
    transcript = chat.ids["transcript"]
    assert (transcript["role"], transcript["aria-live"]) == ("log", "polite")
    staff = _markup(anonymous.get("/staff").get_data(as_text=True))
    assert staff.labels["staff-member"] == "Staff member"
    assert staff.labels["reply"] == "Reply" and staff.ids["reply"]["tag"] == "textarea"
    assert staff.ids["transcript"]["role"] == "log"
    text = {path: anonymous.get(path).get_data(as_text=True) for path in PAGES}
    assert text["/"].count(">Sign in</button>") == 2  # the local one, the password one
    assert ">Send</button>" in text["/"] and ">Send</button>" in text["/staff"]
    assert ">Return to assistant</button>" in text["/staff"]


@pytest.mark.parametrize("path", [*PAGES, "/static/chat.js", "/v1/web-config"])
def test_every_response_is_confined_by_a_strict_policy(anonymous, production_app, path):
    local = anonymous.get(path).headers
    assert local["X-Content-Type-Options"] == "nosniff"
    # The origin only: Identity Platform's browser key is restricted by it (not no-referrer).
    assert local["Referrer-Policy"] == "strict-origin"
    policy = dict(
        directive.strip().split(" ", 1) for directive in local["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self'"
    assert "unsafe" not in local["Content-Security-Policy"]
    production = production_app.test_client().get(path).headers["Content-Security-Policy"]
    connect = next(d for d in production.split("; ") if d.startswith("connect-src"))
    assert connect.split()[1:] == ["'self'", *IDENTITY_PLATFORM_ORIGINS]
    assert set(IDENTITY_PLATFORM_ORIGINS) == {
        "https://identitytoolkit.googleapis.com",
        "https://securetoken.googleapis.com",
    }


def test_a_file_is_cached_for_a_year_only_under_its_current_digest(anonymous):
    link = next(
        link
        for link in _markup(anonymous.get("/").get_data(as_text=True)).links
        if link.startswith("/static/chat.js")
    )
    pinned = anonymous.get(link)
    assert pinned.mimetype == "text/javascript"
    assert pinned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert pinned.get_data() == (STATIC_DIR / "chat.js").read_bytes()
    for other in ("/static/chat.js", "/static/chat.js?v=000000000000"):
        response = anonymous.get(other)
        assert response.headers["Cache-Control"] == "no-cache", other
    etag = anonymous.get("/static/chat.js").headers["ETag"]
    assert anonymous.get("/static/chat.js", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/static/pages.css", "text/css"),
        ("/static/vendor/agent-auth.js", "text/javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_files_are_served_with_their_type(anonymous, path, media_type):
    response = anonymous.get(path)
    assert response.status_code == 200
    assert response.mimetype == media_type


@pytest.mark.parametrize(
    "path",
    [
        "/static/../settings.py",
        "/static/%2e%2e/settings.py",
        "/static/..%2fsettings.py",
        "/static/vendor/../../settings.py",
        "/static//etc/passwd",
        "/static/vendor",
        "/static/vendor/",
        "/static/no-such-file.js",
        "/static/chat.js%00.png",
        "/static/" + "a" * 5000,
    ],
)
def test_nothing_outside_the_static_folder_is_served(anonymous, path):
    response = anonymous.get(path, follow_redirects=True)  # "//" is merged by a redirect
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "import" not in response.get_data(as_text=True)


def test_a_symlink_out_of_the_static_folder_is_not_followed(anonymous, tmp_path, monkeypatch):
    import app.http.pages as pages

    static = tmp_path / "static"
    static.mkdir()
    (static / "ok.txt").write_text("ok")
    (tmp_path / "secret.txt").write_text("secret")
    (static / "leak.txt").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setattr(pages, "STATIC_DIR", static)
    assert anonymous.get("/static/ok.txt").get_data(as_text=True) == "ok"
    assert anonymous.get("/static/leak.txt").status_code == 404


def test_web_config_in_local_mode_lists_the_demo_accounts(anonymous):
    response = anonymous.get("/v1/web-config")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.get_json() == {
        "auth": {"mode": "local", "firebase": None},
        "demo": {
            "customers": [f"C00{n}" for n in range(1, 9)],
            "staff": ["S001", "S002", "S003"],
        },
    }


def test_web_config_in_production_is_identity_platforms_public_config(production_app):
    client = production_app.test_client()
    assert client.get("/v1/web-config").get_json() == {
        "auth": {
            "mode": "identity_platform",
            "firebase": {
                "apiKey": "AIzaSyA-browser-key_0123456789abcdefghi",
                "authDomain": "acme-shop-prod.firebaseapp.com",
                "projectId": "acme-shop-prod",
            },
        },
        "demo": None,
    }
    assert client.post("/dev/token", json={"customer_id": "C001"}).status_code == 404


def test_web_config_names_the_auth_domain_the_settings_give(settings, fake_services, identity):
    given = replace(
        settings,
        auth_mode="identity_platform",
        google_cloud_project="acme-shop-prod",
        web_api_key="k" * 39,
        web_auth_domain="login.shop.example",
    )
    app = create_app(given, fake_services, identity=Identity(identity.authenticator))
    firebase = app.test_client().get("/v1/web-config").get_json()["auth"]["firebase"]
    assert firebase == {
        "apiKey": "k" * 39,
        "authDomain": "login.shop.example",
        "projectId": "acme-shop-prod",
    }


def test_without_a_browser_key_the_pages_learn_that_sign_in_is_not_configured(
    settings, fake_services, identity
):
    given = replace(settings, auth_mode="identity_platform", auth_project_id="acme-shop-prod")
    app = create_app(given, fake_services, identity=Identity(identity.authenticator))
    body = app.test_client().get("/v1/web-config").get_json()
    assert body == {"auth": {"mode": "identity_platform", "firebase": None}, "demo": None}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WEB_API_KEY": "AIza key with spaces"}, "WEB_API_KEY: must be the project's browser"),
        ({"WEB_API_KEY": "<script>"}, "WEB_API_KEY: must be the project's browser"),
        ({"WEB_API_KEY": "k" * 201}, "WEB_API_KEY: must be the project's browser"),
        ({"WEB_AUTH_DOMAIN": "https://x.firebaseapp.com"}, "WEB_AUTH_DOMAIN: must be a host"),
        ({"WEB_AUTH_DOMAIN": "x.firebaseapp.com:443"}, "WEB_AUTH_DOMAIN: must be a host"),
    ],
)
def test_wrong_web_settings_fail_at_start_up_naming_the_variable(environ, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(environ)


def test_web_settings_are_read_from_the_environment():
    settings = Settings.from_env(
        {"WEB_API_KEY": " AIzaSyA-key ", "WEB_AUTH_DOMAIN": "Shop.FirebaseApp.com"}
    )
    assert (settings.web_api_key, settings.web_auth_domain) == (
        "AIzaSyA-key",
        "shop.firebaseapp.com",
    )


def test_the_worker_serves_no_pages(worker):
    for path in ("/", "/staff", "/static/chat.js", "/v1/web-config"):
        assert worker.get(path).status_code == 404, path


def test_every_static_file_is_a_type_the_server_names():
    from app.http.pages import MEDIA_TYPES

    suffixes = {path.suffix for path in Path(STATIC_DIR).rglob("*") if path.is_file()}
    assert suffixes <= set(MEDIA_TYPES), suffixes - set(MEDIA_TYPES)
