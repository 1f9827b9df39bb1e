"""Every check of `TokenVerifier`, with real RS256 tokens of the local issuer (and forgeries).

Each bad token is refused with a reason that names the failed check and never repeats the
token; the verifier is the same for production and the laptop, only keys, issuer and audience
differ (tests/app/identity/test_identity_setup.py runs it against a stand-in of Google's keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from app.identity.callers import Authenticator, bearer_token
from app.identity.errors import InvalidToken, MissingToken
from app.identity.local_issuer import LOCAL_AUDIENCE, LOCAL_ISSUER
from app.identity.pseudonym import Pseudonyms
from tests.app.token_issuers import TestIssuer


def claims(**changes):
    now = int(time.time())
    base = {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": "local-customer-C001",
        "iat": now,
        "exp": now + 600,
        "auth_time": now,
        "customer_id": "C001",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, body: dict, signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(body).encode()), b64(signature)]
    )


@pytest.fixture
def verifier(local_issuer):
    return local_issuer.verifier()


def refused(verifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    assert not token or token not in caught.value.reason
    return caught.value.reason


def test_a_token_of_the_local_issuer_passes_with_its_claims(local_issuer, verifier):
    verified = verifier.verify(local_issuer.mint(customer_id="C003"))
    assert verified["customer_id"] == "C003"
    assert verified["sub"] == "local-customer-C003"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"iat": int(time.time()) + 600}, "not valid yet"),
        ({"auth_time": int(time.time()) + 600}, "auth_time is in the future"),
        ({"auth_time": "yesterday"}, "auth_time must be a number"),
        ({"auth_time": None}, "no auth_time"),
        ({"iss": "https://securetoken.google.com/other"}, "issuer is not"),
        ({"aud": "someone-else"}, "audience is not"),
        ({"sub": ""}, "sub must be a non-empty string"),
        ({"sub": None}, "no sub claim"),
        ({"sub": "x" * 129}, "longer than 128"),
        ({"exp": None}, "no exp claim"),
        ({"iat": None}, "no iat claim"),
    ],
)
def test_a_bad_claim_is_refused_naming_it(local_issuer, verifier, changes, reason):
    assert reason in refused(verifier, local_issuer.sign(claims(**changes)))


def test_the_skew_allowance_is_small(local_issuer, verifier):
    just_expired = local_issuer.sign(claims(exp=int(time.time()) - 5))
    assert verifier.verify(just_expired)["sub"]  # within the skew
    assert "expired" in refused(verifier, local_issuer.sign(claims(exp=int(time.time()) - 60)))


def test_a_forged_signature_is_refused(local_issuer, verifier):
    forger = TestIssuer(local_issuer.key_id)  # another key claiming the same key id
    assert "signature is invalid" in refused(verifier, forger.sign(claims()))


def test_a_tampered_payload_is_refused(local_issuer, verifier):
    header, _, signature = local_issuer.mint(customer_id="C001").split(".")
    body = b64(json.dumps(claims(customer_id="C002")).encode())
    assert "signature is invalid" in refused(verifier, f"{header}.{body}.{signature}")


def test_an_unsigned_token_is_refused(local_issuer, verifier):
    token = unsigned({"alg": "none", "typ": "JWT", "kid": local_issuer.key_id}, claims())
    assert refused(verifier, token) == "the token's algorithm must be RS256, got 'none'"


def test_hs256_signed_with_the_public_key_is_refused(local_issuer, verifier):
    from cryptography.hazmat.primitives import serialization

    public_pem = local_issuer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": local_issuer.key_id}
    signing_input = unsigned(header, claims()).rsplit(".", 1)[0]
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"
    assert refused(verifier, token) == "the token's algorithm must be RS256, got 'HS256'"


def test_an_unknown_key_id_is_refused(local_issuer, verifier):
    stranger = TestIssuer("someone-elses-key")
    assert "kid" in refused(verifier, stranger.sign(claims()))
    no_kid = unsigned({"alg": "RS256", "typ": "JWT"}, claims(), b"x" * 256)
    assert "kid" in refused(verifier, no_kid)


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "####.####.####", "e30.e30.e30", "x" * 9000]
)
def test_malformed_tokens_are_refused_without_echoing_them(verifier, token):
    reason = refused(verifier, token)
    assert reason.startswith("the token")


def test_the_bearer_header_is_parsed_strictly():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("  bearer   abc ") == "abc"
    with pytest.raises(MissingToken):
        bearer_token(None)
    with pytest.raises(MissingToken):
        bearer_token("  ")
    with pytest.raises(InvalidToken, match="Bearer scheme"):
        bearer_token("Basic dXNlcjpwYXNz")
    with pytest.raises(InvalidToken, match="no token"):
        bearer_token("Bearer ")


def authenticator(local_issuer, claim="customer_id"):
    return Authenticator(local_issuer.verifier(), claim, Pseudonyms(b"k"))


def test_the_customer_is_the_configured_claim(local_issuer):
    token = local_issuer.sign(claims(customer_id=None, account="C005"))
    caller = authenticator(local_issuer, "account").caller(f"Bearer {token}")
    assert caller.customer_id == "C005" and caller.is_customer
    assert authenticator(local_issuer).caller(f"Bearer {token}").customer_id is None


@pytest.mark.parametrize("value", [42, "", "has space", "x" * 200, ["C001"]])
def test_a_malformed_customer_claim_is_no_link(local_issuer, value):
    token = local_issuer.sign(claims(customer_id=value))
    assert authenticator(local_issuer).caller(f"Bearer {token}").customer_id is None


def test_a_staff_token_is_not_a_customer_token_even_with_a_customer_claim(local_issuer):
    token = local_issuer.sign(claims(role="staff", staff_id="S001"))
    caller = authenticator(local_issuer).caller(f"Bearer {token}")
    assert caller.is_staff and not caller.is_customer and caller.staff_id == "S001"


def test_pseudonyms_are_keyed_stable_and_hide_the_subject(local_issuer):
    token = f"Bearer {local_issuer.mint(customer_id='C001')}"
    first = authenticator(local_issuer).caller(token).pseudonym
    assert first == authenticator(local_issuer).caller(token).pseudonym
    other_key = Authenticator(local_issuer.verifier(), "customer_id", Pseudonyms(b"other"))
    assert other_key.caller(token).pseudonym != first
    assert "C001" not in first and "local" not in first
    assert Pseudonyms.for_audience("secret", "aud").of("u") != Pseudonyms.for_audience(
        None, "aud"
    ).of("u")


def test_a_remembered_token_still_expires(local_issuer):
    from app.identity.tokens import TokenVerifier

    strict = TokenVerifier(
        local_issuer.verifier().keys, LOCAL_ISSUER, LOCAL_AUDIENCE, skew_seconds=0
    )
    token = local_issuer.sign(claims(exp=int(time.time()) + 1))
    assert strict.verify(token)["sub"]
    assert strict.verify(token)["sub"]  # remembered
    time.sleep(1.5)
    with pytest.raises(InvalidToken, match="expired"):
        strict.verify(token)


def test_remembered_tokens_are_bounded(local_issuer, verifier, monkeypatch):
    from app.identity import tokens

    monkeypatch.setattr(tokens, "REMEMBERED_TOKENS", 5)
    minted = [local_issuer.sign(claims(sub=f"user-{n}")) for n in range(12)]
    for token in minted:
        verifier.verify(token)
    assert len(verifier._verified) == 5
    assert set(verifier._verified) == set(minted[-5:])
