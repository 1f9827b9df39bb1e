"""scripts/link_customer.py: its arguments are checked before anything is sent, and the bodies
it sends read the account and merge the claim into its attributes (no network here)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from scripts.link_customer import (
    MAX_ATTRIBUTES_BYTES,
    Link,
    LinkError,
    check_link,
    lookup_request,
    main,
    merged_attributes,
    update_request,
)

PROJECT = "acme-agents-prod"
LINK = Link(project=PROJECT, uid="u8Kx2", customer_id="C001")
API = f"https://identitytoolkit.googleapis.com/v1/projects/{PROJECT}"


def test_valid_arguments_make_a_link() -> None:
    assert check_link(PROJECT, "u8Kx2", "C001") == LINK
    link = check_link(PROJECT, "u8Kx2", "alice@example.com", claim="shop_customer", replace=True)
    assert (link.customer_id, link.claim, link.replace) == (
        "alice@example.com",
        "shop_customer",
        True,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((" ", "u1", "C001"), "--project: must be a project id"),
        (("Acme_Prod", "u1", "C001"), "--project: must be a project id"),
        ((PROJECT, "", "C001"), "--uid: must be the account's user id"),
        ((PROJECT, "u 1", "C001"), "--uid: must be the account's user id"),
        ((PROJECT, "u\x001", "C001"), "--uid: must be the account's user id"),
        ((PROJECT, "u" * 129, "C001"), "1 to 128 printable characters"),
        ((PROJECT, "u1", "-C001"), "--customer-id: customer_id must be 1 to 128 characters"),
        ((PROJECT, "u1", "C 001"), "got 'C 001'"),
        ((PROJECT, "u1", "C" * 129), "--customer-id: "),
        ((PROJECT, "u1", "C001", "email"), "--claim: must be a custom claim name"),
        ((PROJECT, "u1", "C001", "customer-id"), "--claim: must be a custom claim name"),
        ((PROJECT, "u1", "C001", ""), "--claim: must be a custom claim name"),
    ],
)
def test_a_wrong_argument_is_named_with_what_is_allowed(args: tuple, message: str) -> None:
    with pytest.raises(LinkError) as error:
        check_link(*args)
    assert message in str(error.value)


def test_the_command_line_stops_on_a_wrong_argument_before_any_credential_is_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing to authenticate with: the check must fail first, with usage and the reason.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
    with pytest.raises(SystemExit) as exit_:
        main(["--project", PROJECT, "--uid", "u1", "--customer-id", "C 1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error: --customer-id: customer_id must be 1 to 128 characters" in err


def test_the_account_is_read_by_its_user_id() -> None:
    url, body = lookup_request(LINK)
    assert url == f"{API}/accounts:lookup"
    assert body == {"localId": ["u8Kx2"]}


def test_the_update_writes_the_attributes_as_one_json_string() -> None:
    url, body = update_request(LINK, {"customer_id": "C001", "role": "staff"})
    assert url == f"{API}/accounts:update"
    assert set(body) == {"localId", "customAttributes"}
    assert body["localId"] == "u8Kx2"
    assert isinstance(body["customAttributes"], str)
    assert json.loads(body["customAttributes"]) == {"customer_id": "C001", "role": "staff"}


@pytest.mark.parametrize(
    ("current", "merged"),
    [
        (None, {"customer_id": "C001"}),
        ("", {"customer_id": "C001"}),
        ('{"role": "staff"}', {"role": "staff", "customer_id": "C001"}),
        ('{"customer_id": "C001", "tier": 2}', {"customer_id": "C001", "tier": 2}),
    ],
)
def test_the_claim_is_merged_into_the_account_s_other_attributes(
    current: str | None, merged: dict
) -> None:
    assert merged_attributes(LINK, current) == merged


def test_an_account_linked_to_another_customer_moves_only_when_asked() -> None:
    current = '{"customer_id": "C002", "role": "staff"}'
    with pytest.raises(LinkError, match=r"already linked to customer 'C002'.*--replace"):
        merged_attributes(LINK, current)
    moved = merged_attributes(replace(LINK, replace=True), current)
    assert moved == {"customer_id": "C001", "role": "staff"}


def test_the_claim_name_is_the_one_given() -> None:
    link = check_link(PROJECT, "u8Kx2", "C001", claim="shop_customer")
    assert merged_attributes(link, '{"customer_id": "X"}') == {
        "customer_id": "X",
        "shop_customer": "C001",
    }


@pytest.mark.parametrize("current", ['["C001"]', "not json", '"C001"'])
def test_attributes_that_are_not_a_json_object_are_not_overwritten(current: str) -> None:
    with pytest.raises(LinkError, match="not a JSON object"):
        merged_attributes(LINK, current)


def test_attributes_over_identity_platform_s_limit_are_refused() -> None:
    big = {"note": "x" * MAX_ATTRIBUTES_BYTES}
    with pytest.raises(LinkError, match=f"Platform allows {MAX_ATTRIBUTES_BYTES}"):
        update_request(LINK, {**big, "customer_id": "C001"})
