"""The retry rule Pub/Sub applies to a push subscription, and the inquiry lease it must outlast.

Shared by the local queue (which delivers with it), the app's start-up check of
MAX_DELIVERY_ATTEMPTS (app/wiring.py) and the environment files' subscription settings
(infra/config.py), so all three hold the same arithmetic. Nothing heavy is imported here: the
synth loads it with the environment files.
"""

from __future__ import annotations

from dataclasses import dataclass

# How long a delivery holds the inquiry. A delivery that dies, or cannot give the lease back
# (the store stopped answering), leaves it held this long and the deliveries meanwhile get
# RETRY, so the retries must outlast it (`RetryPolicy.waits_out`).
INQUIRY_LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Pub/Sub's knobs: maximum delivery attempts, retry backoff bounds, ack deadline.

    The defaults are the Terraform subscription's (see the module docstring).
    """

    max_attempts: int = 5
    min_backoff_seconds: float = 10.0
    max_backoff_seconds: float = 600.0
    ack_deadline_seconds: float = 60.0

    def backoff(self, attempts: int) -> float:
        """Delay before the delivery after attempt number `attempts` (1-based)."""
        delay: float = self.min_backoff_seconds * (2 ** (attempts - 1))
        return min(self.max_backoff_seconds, delay)

    def waits_out(self, lease_seconds: float) -> bool:
        """Whether the last attempt comes `lease_seconds` or more after any earlier one began.

        A delivery that dies, or cannot give the inquiry's lease back, leaves that lease held
        for `lease_seconds` from its start; the deliveries after it find the inquiry busy and
        answer RETRY. Each next attempt comes a backoff after the previous one's answer (or
        after its expired ack deadline). The backoffs grow, so the shortest wait between an
        attempt and the last one is the backoff before the last: when it covers the lease, a
        lease left behind by any attempt but the last has run out before the attempts do. A
        single attempt has no retry to wait with.
        """
        if lease_seconds <= 0:
            return True
        if self.max_attempts < 2:
            return False
        return self.backoff(self.max_attempts - 1) >= lease_seconds

    def fewest_attempts_waiting_out(self, lease_seconds: float) -> int | None:
        """The smallest `max_attempts` for which this policy `waits_out` the lease; None when
        no number does (a backoff that never reaches the lease)."""
        if lease_seconds <= 0:
            return 1
        if self.min_backoff_seconds <= 0 or self.max_backoff_seconds < lease_seconds:
            return None
        attempts = 2
        while self.backoff(attempts - 1) < lease_seconds:
            attempts += 1
        return attempts
