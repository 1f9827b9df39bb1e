"""Tokens for tests that run the api in another process (AUTH_MODE=local on a DATA_DIR).

The local issuer's key lives in DATA_DIR; minting here first creates it exactly as the api
would at its start, so the api then trusts these tokens.
"""

from __future__ import annotations

from pathlib import Path

from app.identity.local_issuer import LocalIssuer


def local_token(data_dir: str | Path, customer_id: str) -> str:
    return LocalIssuer.load_or_create(data_dir, "customer_id").mint(customer_id=customer_id)


def bearer_header(data_dir: str | Path, customer_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {local_token(data_dir, customer_id)}"}
