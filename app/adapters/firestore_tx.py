"""Firestore transactions and errors, in the app's terms.

Every failure of Firestore (or its emulator) reaches the agents as `app.domain.errors.Unavailable`,
as SQLite's do: a backend that does not answer, a deadline, or contention that outlasts the
retries (with a short `retry_after`, since contention clears quickly). The agents' own
exceptions (StaleFlow, DuplicateKey, LeaseLost, NotFound) pass through untouched and roll the
transaction back.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import firestore

from app.domain.errors import Unavailable

T = TypeVar("T")

CALL_TIMEOUT = 10.0  # seconds for one read or write, retries included
RETRIED_ON_CALLS = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError)


def call_options(timeout: float = CALL_TIMEOUT) -> dict[str, Any]:
    """`retry` and `timeout` for one call: retry only what can succeed on a second try, within
    `timeout`, so that a store that is down answers 503 in seconds rather than after a minute."""
    retry = gretry.Retry(
        predicate=gretry.if_exception_type(*RETRIED_ON_CALLS),
        initial=0.1,
        maximum=1.0,
        multiplier=2.0,
        timeout=timeout,
    )
    return {"retry": retry, "timeout": timeout}


# A transaction is retried this often on contention (the client library keeps its place in
# line between attempts), and the whole run again a few times with a jittered pause.
COMMIT_ATTEMPTS = 5
RUNS = 4
CONTENTION_RETRY_AFTER = 1


def bound_transaction_calls(client: firestore.Client, call: dict[str, Any]) -> None:
    """Give the client's transaction RPCs (begin, commit, rollback) the retry and timeout of
    `call`: the library sends them with the API's defaults, which keep retrying a store that
    does not answer for about a minute."""
    api = client._firestore_api  # private: the library offers no other way to set these
    for name in ("begin_transaction", "commit", "rollback"):
        setattr(api, name, functools.partial(getattr(api, name), **call))


def _contention(exc: BaseException) -> bool:
    """Aborted on a read, or the client library's 'failed to commit in N attempts'."""
    if isinstance(exc, gexc.Aborted):
        return True
    return isinstance(exc, ValueError) and isinstance(exc.__cause__, gexc.Aborted)


def _failed_call(exc: BaseException) -> BaseException | None:
    """The API error behind the library's 'cannot be rolled back' (raised while it rolls back
    a transaction whose begin failed)."""
    context = exc.__context__
    if isinstance(exc, ValueError) and isinstance(context, (gexc.GoogleAPIError, gexc.RetryError)):
        return context
    return None


def run_transaction(client: firestore.Client, body: Callable[[Any], T]) -> T:
    """Run `body(transaction)` until it commits; returns its result.

    `body` reads first, then writes, and may raise to roll everything back.
    """
    for run in range(RUNS):
        transaction = client.transaction(max_attempts=COMMIT_ATTEMPTS)
        with translated_errors("transaction"):
            try:
                result: T = firestore.transactional(body)(transaction)
                return result
            except (gexc.Aborted, ValueError) as exc:
                failed = _failed_call(exc)
                if failed is not None:
                    raise failed from exc
                if not _contention(exc):
                    raise
            time.sleep(random.uniform(0.01, 0.05) * (run + 1))
    raise Unavailable(
        "the state store is busy with concurrent writes; retry shortly",
        retry_after=CONTENTION_RETRY_AFTER,
    )


@contextmanager
def translated_errors(action: str) -> Iterator[None]:
    """Raise `Unavailable` for every failure of the Firestore client within the block."""
    try:
        yield
    except gexc.AlreadyExists as exc:
        raise Unavailable(f"Firestore {action} failed, the document already exists: {exc}") from exc
    except (gexc.ResourceExhausted, gexc.Aborted) as exc:
        raise Unavailable(
            f"Firestore {action} hit contention or a quota: {exc}",
            retry_after=CONTENTION_RETRY_AFTER,
        ) from exc
    except (gexc.GoogleAPIError, gexc.RetryError) as exc:
        raise Unavailable(f"Firestore {action} failed: {exc}") from exc
