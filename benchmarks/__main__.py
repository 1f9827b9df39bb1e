"""`python -m benchmarks`: run every figure, print the table, write benchmarks/results.json.

    python -m benchmarks [--only synth,coldstart,faq,session,store,inquiry,live] [--quick]
                         [--out PATH]

The emulator variants (Firestore for sessions, Pub/Sub for inquiries) run when the app wires
those backends and the emulators are installed; otherwise they are listed as skipped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import emulators
from benchmarks.cold_start import cold_start_figures
from benchmarks.http_bench import (
    app_env,
    auth_figures,
    bare_round_trip,
    faq_figures,
    inquiry_figures,
    session_figures,
)
from benchmarks.live_bench import firestore_poll_figures, live_figures
from benchmarks.results import Figure, table, write_json
from benchmarks.store_costs import firestore_cost_figures, sqlite_turn_figures
from benchmarks.synth_bench import synth_figures

GROUPS = ("synth", "coldstart", "faq", "session", "store", "inquiry", "live")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma list of {GROUPS}")
    parser.add_argument("--quick", action="store_true", help="fewer runs and requests")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = [group.strip() for group in args.only.split(",") if group.strip()]
    unknown = sorted(set(only) - set(GROUPS))
    if unknown:
        raise SystemExit(f"--only: unknown group(s) {', '.join(unknown)}; choose from {GROUPS}")
    scale = 0.3 if args.quick else 1.0
    runs = 2 if args.quick else 3
    started = time.monotonic()
    figures: list[Figure] = []
    skipped: list[str] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, emulators.Emulators(Path(tmp)) as emu:
        work = Path(tmp)

        def group(name: str, produce) -> None:
            if name not in only:
                return
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            try:
                figures.extend(produce())
            except Exception:
                failed.append(name)
                traceback.print_exc()

        group("synth", lambda: synth_figures(work, runs + 2))
        group("coldstart", lambda: cold_start_figures(work, emu.cold_start_backends(), runs + 2))
        group(
            "faq",
            lambda: faq_figures(work, requests=int(1000 * scale), threads=4, rounds=runs + 2),
        )

        def sessions() -> list[Figure]:
            floor = bare_round_trip(work, int(300 * scale))
            out = session_figures(
                work, "sqlite", app_env(work / "s-sqlite"), int(300 * scale), floor
            )
            env = emu.session_env(work / "s-firestore")
            if env is None:
                skipped.append(f"session.firestore: {emu.why_not('firestore')}")
            else:
                out += session_figures(work, "firestore", env, int(300 * scale), floor)
            return out + auth_figures(work, int(300 * scale), runs + 2)

        group("session", sessions)

        def store_costs() -> list[Figure]:
            """A turn's time against the session's length (SQLite); each operation's RPCs and
            documents read, counted on the Firestore emulator's channel."""
            out = sqlite_turn_figures(work, turns=40, rounds=runs)
            host = emu.host("firestore")
            if host is None:
                skipped.append(f"store.firestore: {emu.why_not('firestore')}")
            else:
                out += firestore_cost_figures(host, work)
            return out

        group("store", store_costs)

        def inquiries() -> list[Figure]:
            floor = bare_round_trip(work, 50)["server_peaks"]
            data = work / "i-local"
            env = app_env(data)
            out = inquiry_figures(work, "local", env, env, int(40 * scale), int(200 * scale), floor)
            setup = emu.inquiry_setup(work / "i-emulators")
            if setup is None:
                why = (
                    emu.why_not("pubsub")
                    if emu.why_not("firestore") == "not tried"
                    else (emu.why_not("firestore"))
                )
                skipped.append(f"inquiry.emulators: {why}")
            else:
                out += inquiry_figures(
                    work,
                    "emulators",
                    setup["api_env"],
                    setup["worker_env"],
                    int(40 * scale),
                    int(200 * scale),
                    floor,
                    worker_port=setup["worker_port"],
                )
            return out

        group("inquiry", inquiries)

        def live() -> list[Figure]:
            """FAQ search with 200 live streams open against none; what a poll reads."""
            out = live_figures(work, requests=int(1000 * scale), threads=4, rounds=runs + 2)
            host = emu.host("firestore")
            if host is None:
                skipped.append(f"live.poll.firestore: {emu.why_not('firestore')}")
            else:
                out += firestore_poll_figures(host, work)
            return out

        group("live", live)
    took = time.monotonic() - started
    if set(only) == set(GROUPS) or args.out != _parser().get_default("out"):
        write_json(figures, args.out, skipped, took)
        print(f"wrote {args.out}", file=sys.stderr)
    print(table(figures))
    print()
    for figure in figures:
        if figure.detail or figure.target:
            target = f" [target: {figure.target}]" if figure.target else ""
            print(f"  {figure.name}: {figure.detail}{target}")
    for line in skipped:
        print(f"  skipped {line}")
    print(f"took {took:.0f}s")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
