"""build_services picks adapters from settings, keeps the default path light, and cleans up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.adapters.sqlite_store import SqliteStore
from app.config.settings import Settings, SettingsError
from app.domain.errors import Unavailable
from app.live.notifying_store import NotifyingStore
from app.ports.model import Understanding
from app.wiring import build_services
from tests.app.core_support import make_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_path_imports_no_google_cloud_library(tmp_path):
    code = (
        "import sys\n"
        "from app.config.settings import Settings\n"
        "from app.wiring import build_services\n"
        f"services = build_services(Settings.from_env({{}}, data_dir={str(tmp_path)!r}))\n"
        "services.sessions.create('C001', {})\n"
        "services.close()\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('google.cloud', 'google.genai')))\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_local_backends_are_built_on_the_data_dir(tmp_path):
    services = build_services(make_settings(tmp_path / "data"))
    assert isinstance(services.store, NotifyingStore)  # announces new messages (app/live/)
    assert isinstance(services.store.store, SqliteStore)
    assert (tmp_path / "data" / "app.db").exists()
    with services.store.db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert services.readiness() == {"store": True, "queue": True}
    services.close()
    assert services.readiness() == {"store": False, "queue": False}
    services.close()  # twice is fine


def test_gemini_needs_a_project(tmp_path):
    with pytest.raises(SettingsError, match="GOOGLE_CLOUD_PROJECT"):
        build_services(make_settings(tmp_path, model="gemini"))


@pytest.mark.parametrize("project", ["Acme-Prod", "acme", 'acme"dev', "acme-dev-"])
def test_a_malformed_project_id_is_refused_at_start_up(project):
    with pytest.raises(SettingsError, match=r"^GOOGLE_CLOUD_PROJECT: must be a project id"):
        Settings.from_env({"GOOGLE_CLOUD_PROJECT": project})
    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": " acme-dev "}).google_cloud_project == (
        "acme-dev"
    )


def test_gemini_is_built_when_selected(tmp_path):
    services = build_services(
        make_settings(tmp_path, model="gemini", google_cloud_project="demo-project")
    )
    assert services.model.name == "gemini"
    services.close()


def test_a_data_dir_that_cannot_be_created_names_the_setting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(Unavailable, match="DATA_DIR"):
        build_services(make_settings(blocker / "data"))


class DownModel:
    name = "down"

    def understand(self, text: str) -> Understanding:
        raise Unavailable("model down", retry_after=30)

    def phrase(self, draft, facts):
        raise Unavailable("model down")


def test_an_unavailable_model_fails_the_turn_and_stores_nothing(tmp_path):
    services = build_services(make_settings(tmp_path), model=DownModel())
    session = services.sessions.create("C002", {})  # A1003's owner
    with pytest.raises(Unavailable) as caught:
        services.conversation.post_message(
            session.id, "Where is my order A1003?", customer_id="C002"
        )
    assert caught.value.retry_after == 30
    assert services.sessions.get(session.id, customer_id="C002")[1].messages == []
    services.close()
