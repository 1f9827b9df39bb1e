"""gunicorn settings come from the environment, and its hooks drive the services' lifecycle."""

from __future__ import annotations

import importlib
from dataclasses import replace
from types import SimpleNamespace

import pytest
from gunicorn.workers.gthread import ThreadWorker

from app.http import create_app


def load_conf(monkeypatch, **env):
    for name in (
        "PORT",
        "WEB_CONCURRENCY",
        "GUNICORN_THREADS",
        "GUNICORN_TIMEOUT",
        "GUNICORN_READ_TIMEOUT",
        "AGENT_ROLE",
        "LIVE_MAX_STREAMS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import app.gunicorn_conf as conf

    return importlib.reload(conf)


def test_defaults_fit_cloud_run(monkeypatch):
    conf = load_conf(monkeypatch)
    assert conf.bind == ["0.0.0.0:8080"]
    # 8 threads for requests, and on the api 200 more for live streams (app/live/), which
    # the app caps at LIVE_MAX_STREAMS so that they never take the 8.
    assert (conf.workers, conf.NORMAL_THREADS, conf.threads) == (1, 8, 208)
    assert issubclass(conf.worker_class, ThreadWorker)  # gthread, reading requests whole
    assert conf.graceful_timeout < 10  # Cloud Run kills 10 s after SIGTERM
    assert conf.control_socket_disable is True


def test_port_workers_and_threads_come_from_the_environment(monkeypatch):
    conf = load_conf(monkeypatch, PORT="9090", WEB_CONCURRENCY="3", GUNICORN_THREADS="16")
    assert conf.bind == ["0.0.0.0:9090"]
    assert (conf.workers, conf.threads) == (3, 16 + 200)
    conf = load_conf(monkeypatch, GUNICORN_THREADS="16", LIVE_MAX_STREAMS="40")
    assert conf.threads == 16 + 40
    # The worker serves no streams: its threads are GUNICORN_THREADS alone.
    conf = load_conf(monkeypatch, GUNICORN_THREADS="16", AGENT_ROLE="worker")
    assert conf.threads == 16


def test_a_wrong_stream_cap_stops_gunicorn_naming_the_variable(monkeypatch):
    with pytest.raises(SystemExit, match="LIVE_MAX_STREAMS: must be between 1 and 1000"):
        load_conf(monkeypatch, LIVE_MAX_STREAMS="0")


def test_gunicorn_builds_no_access_log_the_app_writes_its_own(monkeypatch):
    from gunicorn.config import Config

    conf = load_conf(monkeypatch)
    cfg = Config()
    for name in ("accesslog", "logconfig_dict", "logger_class"):
        cfg.set(name, getattr(conf, name))
    log = cfg.logger_class(cfg)
    built = []
    monkeypatch.setattr(log, "atoms", lambda *args: built.append(args) or {})
    log.access(SimpleNamespace(), SimpleNamespace(), {}, 0.001)
    assert not log.access_log_enabled
    assert built == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("WEB_CONCURRENCY", "0"),
        ("GUNICORN_THREADS", "-2"),
        ("GUNICORN_READ_TIMEOUT", "0"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(monkeypatch, name, value):
    with pytest.raises(SystemExit, match=name):
        load_conf(monkeypatch, **{name: value})


def _gunicorn_worker(app):
    log = SimpleNamespace(info=lambda *args: None)
    return SimpleNamespace(wsgi=app, pid=123, log=log)


@pytest.mark.parametrize(("role", "started"), [("worker", 1), ("api", 0)])
def test_background_work_starts_on_the_worker_role_only(
    monkeypatch, settings, fake_services, role, started
):
    conf = load_conf(monkeypatch)
    app = create_app(replace(settings, agent_role=role), fake_services, push_verifier=print)
    worker = _gunicorn_worker(app)
    conf.post_worker_init(worker)
    assert fake_services.started == started
    conf.worker_exit(SimpleNamespace(log=worker.log), worker)
    assert fake_services.closed == 1
