"""Link a signed-up Identity Platform account to a customer: set its customer claim.

Why: the api takes the customer from a claim of the caller's ID token, never from a request, so
only a trusted backend may decide which customer an account is. This is that backend in its
smallest form: it runs with Application Default Credentials (an operator, or a service account
with `roles/identityplatform.admin`), reads the account's custom attributes, adds the claim and
writes them back, so the account's other claims (such as `role: staff`) stay. It refuses to move
an account that is already linked to another customer unless told to (`--replace`).

    .venv/bin/python scripts/link_customer.py --project acme-agents-prod \\
        --uid <the account's user id> --customer-id C001

The claim is in the account's next ID token: after its next sign-in or token refresh (within
an hour). The script never prints a token or a credential.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from app.agents.sessions import check_customer_id
from app.config.settings import Settings, SettingsError
from app.domain.errors import InvalidInput

API = "https://identitytoolkit.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# Identity Platform's limit on an account's custom attributes (its serialized JSON).
MAX_ATTRIBUTES_BYTES = 1000
MAX_UID_LENGTH = 128
_UID = re.compile(rf"\S{{1,{MAX_UID_LENGTH}}}")


class LinkError(ValueError):
    """An argument, or the account's current state, does not allow the link."""


@dataclass(frozen=True)
class Link:
    """Which account, in which project, gets which customer under which claim."""

    project: str
    uid: str
    customer_id: str
    claim: str = "customer_id"
    replace: bool = False


def _as_the_app_reads(attribute: str, option: str, value: str) -> str:
    """`value` parsed by the app's own parser of the setting `attribute`, so that the claim
    this script writes is one the api reads."""
    (setting,) = (f for f in fields(Settings) if f.name == attribute)
    try:
        return setting.metadata["parse"](option, value)
    except SettingsError as exc:
        raise LinkError(str(exc)) from None


def check_link(
    project: str, uid: str, customer_id: str, claim: str = "customer_id", replace: bool = False
) -> Link:
    """The link, or LinkError naming the first argument that is wrong and what is allowed."""
    project = _as_the_app_reads("auth_project_id", "--project", project)
    if not _UID.fullmatch(uid) or not uid.isprintable():
        raise LinkError(
            f"--uid: must be the account's user id: 1 to {MAX_UID_LENGTH} printable characters"
            f" without spaces, got {uid!r}"
        )
    try:
        check_customer_id(customer_id)
    except InvalidInput as exc:
        raise LinkError(f"--customer-id: {exc}, got {customer_id!r}") from None
    claim = _as_the_app_reads("auth_customer_claim", "--claim", claim)
    return Link(project=project, uid=uid, customer_id=customer_id, claim=claim, replace=replace)


def lookup_request(link: Link) -> tuple[str, dict[str, Any]]:
    """The URL and body that read the account (`accounts:lookup`)."""
    return f"{API}/projects/{link.project}/accounts:lookup", {"localId": [link.uid]}


def merged_attributes(link: Link, current: str | None) -> dict[str, Any]:
    """The account's custom attributes (`current`, a JSON object as a string, or None) with
    the customer claim set; LinkError if they cannot be merged."""
    try:
        attributes = json.loads(current) if current else {}
    except json.JSONDecodeError:
        attributes = None
    if not isinstance(attributes, dict):
        raise LinkError(f"{link.uid}: its custom attributes are not a JSON object: {current!r}")
    linked = attributes.get(link.claim)
    if linked not in (None, link.customer_id) and not link.replace:
        raise LinkError(
            f"{link.uid}: already linked to customer {linked!r} ({link.claim});"
            " pass --replace to link it to another customer"
        )
    return {**attributes, link.claim: link.customer_id}


def update_request(link: Link, attributes: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL and body that write the attributes (`accounts:update`, a JSON string)."""
    encoded = json.dumps(attributes, separators=(",", ":"), sort_keys=True)
    if len(encoded.encode()) > MAX_ATTRIBUTES_BYTES:
        raise LinkError(
            f"{link.uid}: custom attributes would be {len(encoded.encode())} bytes; Identity"
            f" Platform allows {MAX_ATTRIBUTES_BYTES}"
        )
    url = f"{API}/projects/{link.project}/accounts:update"
    return url, {"localId": link.uid, "customAttributes": encoded}


def _post(session: Any, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST as JSON; a refused call raises LinkError with the API's own message only."""
    response = session.post(url, json=body, timeout=30)
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.reason
        raise LinkError(f"{url}: HTTP {response.status_code}: {message}")
    return response.json()


def link_account(session: Any, link: Link) -> dict[str, Any]:
    """Read the account, merge the claim into its attributes, write them; the new attributes."""
    answer = _post(session, *lookup_request(link))
    users = [u for u in answer.get("users", []) if u.get("localId") == link.uid]
    if not users:
        raise LinkError(f"--uid: no account {link.uid!r} in project {link.project}")
    attributes = merged_attributes(link, users[0].get("customAttributes"))
    _post(session, *update_request(link, attributes))
    return attributes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True, help="the environment's project id")
    parser.add_argument("--uid", required=True, help="the Identity Platform user id")
    parser.add_argument("--customer-id", required=True, help="the customer, e.g. C001")
    parser.add_argument(
        "--claim", default="customer_id", help="the claim name (AUTH_CUSTOMER_CLAIM)"
    )
    parser.add_argument(
        "--replace", action="store_true", help="relink an account linked to another customer"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        link = check_link(args.project, args.uid, args.customer_id, args.claim, args.replace)
    except LinkError as exc:
        parser.error(str(exc))
    # Imported here: checking the arguments needs neither credentials nor the network.
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=[SCOPE])
    if hasattr(credentials, "with_quota_project"):
        # User credentials bill the API to a project: this one.
        credentials = credentials.with_quota_project(link.project)
    try:
        link_account(AuthorizedSession(credentials), link)
    except LinkError as exc:
        print(f"link_customer: {exc}", file=sys.stderr)
        return 1
    print(
        f"account {link.uid} linked to customer {link.customer_id} (claim {link.claim});"
        " its next ID token carries it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
