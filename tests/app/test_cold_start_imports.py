"""What an instance loads before and while answering its first request.

Cloud Run scales dev and staging to zero, so a request often waits for the instance to start.
The entry points import only what a start and a first anonymous request need: no logging API
client, no PyJWT or cryptography (token checks load them at the first token), no requests
(callbacks load it with their sender), no numpy; and the FAQ index is built by the first
search, so the worker, which never searches, never builds it. Each case runs in a fresh
interpreter, as an instance starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOT_AT_START = (
    "google.cloud.logging_v2",
    "jwt",
    "cryptography",
    "requests",
    "urllib3",
    "numpy",
    "devtools",  # dev-only runners: not in the image, never imported by it
)

PROBE = """
import json, sys
role, request = sys.argv[1], sys.argv[2]
module = __import__(f"app.{role}", fromlist=["app"])
client = module.app.test_client()
if request == "faq":
    answer = client.post("/v1/faq/search", json={"query": "how do I return an item"})
else:
    answer = client.get("/healthz")
faq = module.app.extensions["services"].faq
print(json.dumps({
    "status": answer.status_code,
    "loaded": sorted({name.split(".")[0] if not name.startswith("google.") else
                      ".".join(name.split(".")[:3]) for name in sys.modules}),
    "faq_index_built": faq._index is not None,
}))
"""


def _first_request(role: str, request: str, tmp_path: Path) -> dict:
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")},
        "PYTHONPATH": str(REPO),
        "AUTH_MODE": "identity_platform",
        "AUTH_PROJECT_ID": "acme-agents-dev",
        "DATA_DIR": str(tmp_path),
        "STATE_BACKEND": "local",
        "QUEUE_BACKEND": "local",
    }
    for name in ("CALLBACK_SIGNING_KEY", "MODEL", "REDIS_URL"):
        env.pop(name, None)
    finished = subprocess.run(
        [sys.executable, "-c", PROBE, role, request],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("role", "request_kind"), [("api", "health"), ("api", "faq"), ("worker", "health")]
)
def test_a_start_and_a_first_anonymous_request_load_no_heavy_library(tmp_path, role, request_kind):
    result = _first_request(role, request_kind, tmp_path)
    assert result["status"] == 200
    loaded = set(result["loaded"])
    assert "flask" in loaded  # the probe sees what was imported
    assert sorted(loaded.intersection(NOT_AT_START)) == []


def test_the_faq_index_is_built_by_the_first_search_only(tmp_path):
    assert _first_request("api", "health", tmp_path)["faq_index_built"] is False
    assert _first_request("api", "faq", tmp_path)["faq_index_built"] is True
    assert _first_request("worker", "health", tmp_path)["faq_index_built"] is False
