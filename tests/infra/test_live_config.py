"""The api's Cloud Run settings for live streams: room in its concurrency, time in its timeout.

Each open chat page holds a request for up to LIVE_STREAM_MAX_SECONDS, so an environment file
whose api concurrency leaves no room beside LIVE_MAX_STREAMS streams, or whose timeout would
cut streams before the app ends them, fails with the field, the rule and the values.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.app_env import PlatformRefs, service_env
from infra.loader import ConfigError, load_environments
from tests.infra.conftest import REPO

REFS = PlatformRefs(
    database_name="db",
    inquiries_topic_path="projects/p/topics/i",
    events_topic_path="projects/p/topics/e",
    push_audience="https://worker",
    push_service_account="push@p.iam.gserviceaccount.com",
)


def load_with(tmp_path: Path, **api: object):
    folder = tmp_path / "environments"
    shutil.copytree(REPO / "environments", folder)
    path = folder / "dev.yaml"
    data = yaml.safe_load(path.read_text())
    data["compute"]["api"].update(api)
    path.write_text(yaml.safe_dump(data))
    return {env.name: env for env in load_environments(directory=folder)}


def test_every_environment_gives_the_api_room_and_time_for_its_streams():
    for env in load_environments(directory=REPO / "environments"):
        api = env.config.compute.api
        assert api.concurrency >= api.live_max_streams + 8
        assert api.timeout_seconds >= api.live_stream_max_seconds + 30
        values = service_env("api", env.config, REFS)
        assert values["LIVE_MAX_STREAMS"] == str(api.live_max_streams)
        assert values["LIVE_STREAM_MAX_SECONDS"] == str(api.live_stream_max_seconds)
        assert "LIVE_MAX_STREAMS" not in service_env("worker", env.config, REFS)


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        (
            {"concurrency": 80},
            "compute.api.live_max_streams: 200 open streams and at least 8 other requests need"
            " concurrency >= 208, got concurrency 80",
        ),
        (
            {"live_max_streams": 300},
            "compute.api.live_max_streams: 300 open streams and at least 8 other requests need"
            " concurrency >= 308, got concurrency 280",
        ),
        (
            {"timeout_seconds": 300},
            "compute.api.live_stream_max_seconds: streams of 300 s need timeout_seconds >= 330"
            " (30 s to spare), got timeout_seconds 300",
        ),
        ({"live_max_streams": 0}, "compute.api.live_max_streams: must be >= 1, got 0"),
    ],
)
def test_an_api_without_room_for_its_streams_is_refused_naming_the_rule(tmp_path, api, expected):
    with pytest.raises(ConfigError) as caught:
        load_with(tmp_path, **api)
    assert any(expected in line for line in caught.value.lines), caught.value.lines


def test_fewer_streams_need_less_concurrency(tmp_path):
    envs = load_with(tmp_path, concurrency=48, live_max_streams=40, timeout_seconds=600)
    assert service_env("api", envs["dev"].config, REFS)["LIVE_MAX_STREAMS"] == "40"
