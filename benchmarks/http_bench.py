"""The HTTP figures: FAQ search under load, session round trips, inquiries end to end.

Every server is gunicorn with app/gunicorn_conf.py (the production settings); every client is
`benchmarks.loadgen` in its own process on loopback. The floors are measured in the same run:
a bare Flask route returning a body of the FAQ answer's size, and the inquiry's own 202.
The api runs AUTH_MODE=local: every session and inquiry request carries a token of the local
issuer and is verified as in production (RS256 signature and claims).
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterator, Mapping
from pathlib import Path

from app.identity.local_issuer import LocalIssuer
from benchmarks.processes import Server, base_env, gunicorn, run_loadgen
from benchmarks.results import Figure

FAQ_BODY = {"query": "How long does delivery take and can I track my parcel?", "top_k": 5}
SESSION_TEXTS = [
    "Where is my order A1003?",
    "How do I return an item?",
    "What payment methods do you accept?",
    "Hello",
]
SESSION_CUSTOMER = "C002"  # the owner of A1003
INQUIRY_BODY = {"kind": "refund_review", "details": {"order_id": "A1007", "reason": "damaged"}}
INQUIRY_CUSTOMER = "C004"  # the owner of A1007


def app_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return base_env(DATA_DIR=str(data_dir), MODEL="rules", AUTH_MODE="local", **dict(extra or {}))


def token(env: Mapping[str, str], customer_id: str) -> str:
    """A token the api on `env`'s DATA_DIR accepts (its local issuer's key, made if new)."""
    return LocalIssuer.load_or_create(env["DATA_DIR"], "customer_id").mint(customer_id=customer_id)


def _rss(name: str, value: float, baseline: float, of: str) -> Figure:
    return Figure(f"rss.{name}", value, "MiB", baseline, of)


@contextlib.contextmanager
def api_server(workdir: Path, env: Mapping[str, str], label: str) -> Iterator[Server]:
    with gunicorn("app.api:app", {**env, "AGENT_ROLE": "api"}, workdir / f"{label}.log") as s:
        yield s


def faq_figures(workdir: Path, requests: int, threads: int, rounds: int) -> list[Figure]:
    """FAQ search against the bare route under the same gunicorn settings and the same load.

    The two servers take turns, `rounds` times, and each figure is the median of its rounds:
    a burst of noise on a shared machine then moves one round, not the figure.
    """
    env = app_env(workdir / "faq-data")
    load = {"scenario": "post", "threads": threads, "requests": requests, "warmup": 50}
    faq_load = {**load, "path": "/v1/faq/search", "body": FAQ_BODY}
    with api_server(workdir, env, "faq-api") as api:
        faq_runs = [run_loadgen({**faq_load, "url": api.url}, env)]
        size = faq_runs[0]["body_bytes"][0]
        bare_env = base_env(BARE_BODY_BYTES=str(size))
        bare_load = {**load, "path": "/echo", "body": FAQ_BODY}
        with gunicorn("benchmarks.bare_app:app", bare_env, workdir / "bare.log") as bare:
            bare_runs = [run_loadgen({**bare_load, "url": bare.url}, bare_env)]
            for _ in range(rounds - 1):
                faq_runs.append(run_loadgen({**faq_load, "url": api.url}, env))
                bare_runs.append(run_loadgen({**bare_load, "url": bare.url}, bare_env))
    for name, runs in (("faq", faq_runs), ("bare", bare_runs)):
        for result in runs:
            if set(result["statuses"]) != {"200"}:
                raise RuntimeError(f"{name} answered {result['statuses']}, expected only 200")
    faq, floor = _median_run(faq_runs), _median_run(bare_runs)
    of = f"bare Flask route, {size} B body, same gunicorn settings"
    detail = (
        f"median of {rounds} alternating rounds of {threads} keep-alive connections x "
        f"{requests} requests, {size} B responses"
    )
    per_round = ", ".join(
        f"{f['throughput_rps'] / b['throughput_rps']:.2f}"
        for f, b in zip(faq_runs, bare_runs, strict=True)
    )
    return [
        Figure(
            "faq.throughput",
            faq["throughput_rps"],
            "req/s",
            floor["throughput_rps"],
            of,
            better="higher",
            target=">= 0.70 of the bare route",
            detail=f"{detail}; ratio per round {per_round}",
        ),
        Figure("faq.p50", faq["p50_ms"], "ms", floor["p50_ms"], of, detail=detail),
        Figure("faq.p99", faq["p99_ms"], "ms", floor["p99_ms"], of, detail=detail),
        _rss(
            "faq.api_worker_process",
            api.peaks_mib["worker"],
            bare.peaks_mib["worker"],
            "bare app's gunicorn worker process",
        ),
        _rss(
            "faq.api_master",
            api.peaks_mib["master"],
            bare.peaks_mib["master"],
            "bare app's gunicorn master",
        ),
        _rss(
            "faq.loadgen",
            max(r["peak_rss_mib"] for r in faq_runs),
            max(r["peak_rss_mib"] for r in bare_runs),
            "load generator against the bare route",
        ),
    ]


def _median_run(
    runs: list[dict], keys: tuple[str, ...] = ("throughput_rps", "p50_ms", "p99_ms")
) -> dict[str, float]:
    """Each of `keys` (throughput, p50 and p99) as its median over the rounds."""
    return {key: statistics.median(r[key] for r in runs) for key in keys}


def bare_round_trip(workdir: Path, requests: int) -> dict:
    """Sequential round trips to the bare route: the floor for the session figures."""
    env = base_env(BARE_BODY_BYTES="600")
    with gunicorn("benchmarks.bare_app:app", env, workdir / "bare-seq.log") as bare:
        load = {"scenario": "post", "threads": 1, "requests": requests, "warmup": 20}
        result = run_loadgen({**load, "url": bare.url, "path": "/echo", "body": {"text": "x"}}, env)
    result["server_peaks"] = bare.peaks_mib
    return result


def session_figures(
    workdir: Path, backend: str, env: Mapping[str, str], requests: int, floor: dict
) -> list[Figure]:
    """One session's message round trips, one at a time, against the bare route's."""
    with api_server(workdir, env, f"session-{backend}") as api:
        load = {"scenario": "session", "url": api.url, "texts": SESSION_TEXTS}
        load["token"] = token(env, SESSION_CUSTOMER)
        result = run_loadgen({**load, "requests": requests, "warmup": 10}, env)
    of = "bare Flask route, one connection, same gunicorn settings"
    detail = f"{requests} sequential turns; routes {result['routes']}"
    return [
        Figure(
            f"session.{backend}.p50", result["p50_ms"], "ms", floor["p50_ms"], of, detail=detail
        ),
        Figure(
            f"session.{backend}.p99", result["p99_ms"], "ms", floor["p99_ms"], of, detail=detail
        ),
        _rss(
            f"session.{backend}.api_worker_process",
            api.peaks_mib["worker"],
            floor["server_peaks"]["worker"],
            "bare app's gunicorn worker process",
        ),
    ]


def inquiry_figures(
    workdir: Path,
    backend: str,
    api_env: Mapping[str, str],
    worker_env: Mapping[str, str],
    sequential: int,
    burst: int,
    floor_peaks: Mapping[str, float],
    worker_port: int | None = None,
) -> list[Figure]:
    """POST to succeeded one at a time, then a burst for the sustained rate."""
    worker_log = workdir / f"inquiry-{backend}-worker.log"
    with (
        gunicorn(
            "app.worker:app", {**worker_env, "AGENT_ROLE": "worker"}, worker_log, port=worker_port
        ) as worker,
        api_server(workdir, api_env, f"inquiry-{backend}-api") as api,
    ):
        bearer = token(api_env, INQUIRY_CUSTOMER)
        one = run_loadgen(
            {
                "scenario": "inquiry",
                "url": api.url,
                "token": bearer,
                "body": INQUIRY_BODY,
                "requests": sequential,
                "warmup": 3,
                "deadline_seconds": 60,
            },
            api_env,
        )
        many = run_loadgen(
            {
                "scenario": "burst",
                "url": api.url,
                "token": bearer,
                "body": INQUIRY_BODY,
                "count": burst,
                "threads": 4,
                "deadline_seconds": 180,
            },
            api_env,
        )
    for name, result in (("sequential", one), ("burst", many)):
        if set(result["statuses"]) != {"succeeded"}:
            raise RuntimeError(f"{name} inquiries ended {result['statuses']}")
    e2e, accept = one["end_to_end"], one["accept"]
    of = "the same requests' POST (202) round trip"
    detail = f"{sequential} sequential inquiries, polled every 5 ms"
    burst_detail = (
        f"{many['count']} inquiries from 4 connections; accepted at {many['accept_rps']:.0f}/s"
    )
    return [
        Figure(
            f"inquiry.{backend}.e2e_p50", e2e["p50_ms"], "ms", accept["p50_ms"], of, detail=detail
        ),
        Figure(
            f"inquiry.{backend}.e2e_p99", e2e["p99_ms"], "ms", accept["p99_ms"], of, detail=detail
        ),
        Figure(
            f"inquiry.{backend}.sustained",
            many["sustained_ips"],
            "inquiries/s",
            many["accept_rps"],
            "the rate the api accepted the same burst",
            better="higher",
            detail=burst_detail,
        ),
        _rss(
            f"inquiry.{backend}.worker_process",
            worker.peaks_mib["worker"],
            floor_peaks["worker"],
            "bare app's gunicorn worker process",
        ),
        _rss(
            f"inquiry.{backend}.api_worker_process",
            api.peaks_mib["worker"],
            floor_peaks["worker"],
            "bare app's gunicorn worker process",
        ),
        _rss(
            f"inquiry.{backend}.loadgen",
            many["peak_rss_mib"],
            one["peak_rss_mib"],
            "load generator of the sequential run",
        ),
    ]


def auth_figures(workdir: Path, requests: int, rounds: int) -> list[Figure]:
    """Session turns with each request's token verified, against the same api with the check
    replaced by a fixed caller (benchmarks/unverified_api.py): what verification costs a turn.

    Both run on SQLite with the same data dir and take turns, `rounds` times; each figure is
    the median of its rounds.
    """
    env = app_env(workdir / "auth-data")
    bench_env = {**env, "BENCH_CUSTOMER": SESSION_CUSTOMER}
    load = {"scenario": "session", "texts": SESSION_TEXTS, "requests": requests, "warmup": 10}
    load["token"] = token(env, SESSION_CUSTOMER)
    verified: list[dict] = []
    unverified: list[dict] = []
    with (
        api_server(workdir, env, "auth-verified") as api,
        gunicorn(
            "benchmarks.unverified_api:app",
            {**bench_env, "AGENT_ROLE": "api"},
            workdir / "auth-unverified.log",
        ) as floor,
    ):
        for _ in range(rounds):
            verified.append(run_loadgen({**load, "url": api.url}, env))
            unverified.append(run_loadgen({**load, "url": floor.url}, bench_env))
    of = "the same api and turns with the token check replaced by a fixed caller"
    detail = f"median of {rounds} alternating rounds of {requests} sequential turns, SQLite"
    latencies = ("p50_ms", "p99_ms")
    mine, base = _median_run(verified, latencies), _median_run(unverified, latencies)
    return [
        Figure("session.auth.p50", mine["p50_ms"], "ms", base["p50_ms"], of, detail=detail),
        Figure("session.auth.p99", mine["p99_ms"], "ms", base["p99_ms"], of, detail=detail),
    ]
