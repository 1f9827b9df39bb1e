"""One cold start in a fresh process: `python -m benchmarks.cold_probe app|factory|bare ROLE`.

`app` imports the role's gunicorn entry point (`app.api` / `app.worker`), which reads the
settings from the environment, sets up logging and creates the app, as Cloud Run does when an
instance starts from zero. `factory` only creates the app (no logging set-up), to show what
the structured-logging library costs. `bare` imports Flask and creates an empty app: the floor.
Prints the in-process time and every `google.cloud` package that ended up imported.
"""

from __future__ import annotations

import importlib
import json
import sys
import time


def main(argv: list[str]) -> int:
    kind, role = argv[1], argv[2]
    began = time.perf_counter()
    if kind == "app":
        module = importlib.import_module(f"app.{role}")
        app = module.app
    elif kind == "factory":
        from app.http.factory import create_app
        from app.settings import Settings

        app = create_app(Settings.from_env(agent_role=role))
    else:
        from flask import Flask

        app = Flask("bare")
    took = time.perf_counter() - began
    assert app is not None
    packages = sorted(
        {".".join(name.split(".")[:3]) for name in sys.modules if name.startswith("google.cloud.")}
    )
    print(json.dumps({"seconds": took, "google_cloud_packages": packages}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
