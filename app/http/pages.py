"""The customer's chat page (`GET /`), the staff console (`GET /staff`), their files, and the
public sign-in config the pages start from (`GET /v1/web-config`).

Public, all of them, and holding no data: a page is the same for everyone and shows nothing until
the api accepts the token its script sends (every `/v1` route but these checks it). The pages are
plain HTML, CSS and JavaScript in `app/static/`, with the sign-in bundle of `web/` (README there);
nothing comes from another origin, so they work offline.

Every response of this blueprint carries a strict Content-Security-Policy: scripts, styles and
images from this origin only (no inline script or style), `connect-src` this origin plus, in
production (AUTH_MODE=identity_platform), the two Identity Platform origins the bundle talks to
(tests/web lists them), and no framing. `Referrer-Policy: strict-origin` sends the page's origin,
and nothing of its path, to Identity Platform, whose browser API key is restricted to the app's
domains by that header (`no-referrer` would make every sign-in fail).

Caching: a page links each of its files as `/static/<file>?v=<digest of the file>`; a request
whose `v` is the file's current digest may be cached for a year (`immutable`), any other one is
revalidated (`no-cache` with an ETag). The pages themselves are always revalidated, so a deploy
shows at the next load.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from werkzeug.exceptions import NotFound

from app.http.access import public
from app.http.context import settings

blueprint = Blueprint("pages", __name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The origins of Identity Platform's REST APIs that the sign-in bundle calls: sign-in and
# account lookup, and the ID token refresh (tests/web/test_auth_bundle.py holds the list).
IDENTITY_PLATFORM_ORIGINS = (
    "https://identitytoolkit.googleapis.com",
    "https://securetoken.googleapis.com",
)
YEAR_SECONDS = 365 * 86400
DIGEST_LENGTH = 12
# Types set here rather than guessed from the host's mime.types: with `nosniff`, a script served
# under a wrong type does not run.
MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain",
    ".json": "application/json",
}
_STATIC_LINK = re.compile(r'(?P<attr>(?:src|href)=")/static/(?P<file>[A-Za-z0-9_./-]+)"')


def content_security_policy(identity_platform: bool) -> str:
    """The pages' policy; Identity Platform's origins only when people sign in there."""
    connect = ["'self'", *(IDENTITY_PLATFORM_ORIGINS if identity_platform else ())]
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def _local_sign_in() -> bool:
    """Whether people sign in through `/dev/token` (AUTH_MODE=local registers it)."""
    return "local_issuer" in current_app.extensions


@blueprint.after_request
def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(not _local_sign_in())
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    return response


@blueprint.get("/")
@public  # the same page for everyone; it shows nothing until the api accepts a token
def chat_page() -> Response:
    return _page("chat.html")


@blueprint.get("/staff")
@public  # the same page for everyone; the staff API answers only staff tokens
def staff_page() -> Response:
    return _page("staff.html")


@blueprint.get("/static/<path:filename>")
@public  # the pages' own files, the same for everyone
def static_file(filename: str) -> Response:
    path = _static_path(filename)
    media_type = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    response = send_from_directory(
        STATIC_DIR, filename, mimetype=media_type or "application/octet-stream", max_age=0
    )
    if request.args.get("v") == _digest(path, *_stamp(path)):
        response.headers["Cache-Control"] = f"public, max-age={YEAR_SECONDS}, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"  # revalidated with its ETag
    return response


@blueprint.get("/v1/web-config")
@public  # what every page needs before anyone signs in; the browser API key is public
def web_config() -> Response:
    """How the pages sign people in: the mode, Identity Platform's public config, and (local
    mode only) the demo customers and staff members `/dev/token` signs in."""
    if _local_sign_in():
        # Local mode only: this module loads the token library, which production never needs
        # before its first token.
        from app.identity.local_issuer import DEMO_STAFF

        customers = list(current_app.extensions.get("demo_customers", ()))
        auth: dict[str, Any] = {"mode": "local", "firebase": None}
        demo = {"customers": customers, "staff": list(DEMO_STAFF)}
    else:
        auth = {"mode": "identity_platform", "firebase": firebase_config()}
        demo = None
    response = jsonify(auth=auth, demo=demo)
    response.cache_control.no_cache = True
    return response


def firebase_config() -> dict[str, str] | None:
    """`{apiKey, authDomain, projectId}` for `AgentAuth.start`, or None without an API key."""
    s = settings()
    project = s.auth_project_id or s.google_cloud_project
    if not s.web_api_key or not project:
        return None
    return {
        "apiKey": s.web_api_key,
        "authDomain": s.web_auth_domain or f"{project}.firebaseapp.com",
        "projectId": project,
    }


def _page(name: str) -> Response:
    path = STATIC_DIR / name
    response = Response(_versioned_html(path, *_stamp(path)), mimetype="text/html")
    response.cache_control.no_cache = True
    return response


def _static_path(filename: str) -> Path:
    """The file `filename` names under app/static, or 404 (never a path outside it)."""
    try:
        path = (STATIC_DIR / filename).resolve()
        found = path.is_relative_to(STATIC_DIR) and path.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long for the file system
        found = False
    if not found:
        raise NotFound("no such file")
    return path


def _stamp(path: Path) -> tuple[int, int]:
    """What changes when the file does (so a file edited under `make run` is seen at once)."""
    status = path.stat()
    return status.st_mtime_ns, status.st_size


@functools.lru_cache(maxsize=64)
def _digest(path: Path, _mtime_ns: int, _size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:DIGEST_LENGTH]


@functools.lru_cache(maxsize=8)
def _versioned_html(path: Path, _mtime_ns: int, _size: int) -> str:
    """The page with each `/static/<file>` link carrying `?v=<the file's digest>`."""

    def versioned(match: re.Match[str]) -> str:
        try:
            target = _static_path(match["file"])
        except NotFound:
            return match[0]  # a broken link stays visible as one
        return f'{match["attr"]}/static/{match["file"]}?v={_digest(target, *_stamp(target))}"'

    return _STATIC_LINK.sub(versioned, path.read_text(encoding="utf-8"))
