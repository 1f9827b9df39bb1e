"""`make token CUSTOMER=C001` (or `STAFF=S001`): print a token of the local issuer.

It signs with the key the api keeps in DATA_DIR (default .local), so the token is accepted by
the app running on that DATA_DIR (`make run`), and it creates the key when the api has not run
yet, exactly as the api would. Only the token goes to stdout: `TOKEN=$(make -s token ...)`.
"""

from __future__ import annotations

import argparse
import os
import sys

from app.agents.orders import OrderBook
from app.config.settings import Settings, SettingsError
from app.identity.local_issuer import DEMO_STAFF, LocalIssuer, LocalKeyError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="a demo customer, C001 to C008")
    who.add_argument("--staff", help="a demo staff member, S001 to S003")
    args = parser.parse_args(argv)
    customers = OrderBook().customer_ids()
    if args.customer is not None and args.customer not in customers:
        parser.error(f"--customer: must be one of {', '.join(customers)}, got {args.customer!r}")
    if args.staff is not None and args.staff not in DEMO_STAFF:
        parser.error(f"--staff: must be one of {', '.join(DEMO_STAFF)}, got {args.staff!r}")
    try:
        settings = Settings.from_env(os.environ)
        issuer = LocalIssuer.load_or_create(settings.data_dir, settings.auth_customer_claim)
    except (SettingsError, LocalKeyError) as error:
        print(f"cannot mint a token: {error}", file=sys.stderr)
        return 2
    print(issuer.mint(customer_id=args.customer, staff_id=args.staff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
