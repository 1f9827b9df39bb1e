"""Apply one `terraform_data` whose local-exec provisioner calls a Google API, offline.

Why: the modules that call an API with `curl` (the password policy, the service agents) must
send the token on stdin and fail the apply on an error; Terraform's built-in provider runs the
real provisioner here, with stand-ins for `gcloud` and `curl` that record what they were given.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import require_binary

# Records its arguments and stdin, writes STUB_ANSWER where `--output` points, exits STUB_EXIT.
STUB_CURL = """#!/bin/sh
for arg in "$@"; do printf '%s\\n' "$arg" >> "$STUB_LOG.argv"; done
cat > "$STUB_LOG.stdin"
while [ $# -gt 0 ]; do
  if [ "$1" = "--output" ]; then printf '%s' "$STUB_ANSWER" > "$2"; fi
  shift
done
exit "$STUB_EXIT"
"""


def apply_alone(
    resource: dict[str, Any], folder: Path, *, token: str, answer: str, curl_exit: int = 0
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`terraform apply` of the `terraform_data` config alone in `folder`; returns the run and
    the log prefix (`<log>.argv`, `<log>.stdin` hold what curl got). `sleep` returns at once."""
    terraform = require_binary("terraform")
    config = {k: v for k, v in resource.items() if k not in {"//", "depends_on"}}
    folder.mkdir()
    main = {"resource": {"terraform_data": {"alone": config}}}
    (folder / "main.tf.json").write_text(json.dumps(main))
    stubs = folder / "bin"
    stubs.mkdir()
    (stubs / "gcloud").write_text(f"#!/bin/sh\necho {token}\n")
    (stubs / "curl").write_text(STUB_CURL)
    (stubs / "sleep").write_text("#!/bin/sh\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    log = folder / "curl"
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "HOME": str(folder),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "STUB_LOG": str(log),
        "STUB_EXIT": str(curl_exit),
        "STUB_ANSWER": answer,
    }
    run: dict[str, Any] = {
        "cwd": folder,
        "env": env,
        "capture_output": True,
        "text": True,
        "timeout": 120,
    }
    init = subprocess.run([terraform, "init", "-no-color"], check=False, **run)
    assert init.returncode == 0, init.stderr[-2000:]
    applied = subprocess.run([terraform, "apply", "-auto-approve", "-no-color"], check=False, **run)
    return applied, log
