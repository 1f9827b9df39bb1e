"""The synth floor, run in a fresh process: import cdktn and the provider bindings the stacks
use, then synthesize one empty stack with only the provider in it.

`python -m benchmarks.synth_floor OUTDIR MODULE...` where MODULE are the
`cdktn_provider_google` submodules the real synth imports (found by `benchmarks.synth_bench`),
so the floor pays the same import bill as the real thing and nothing else.
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    outdir, modules = argv[1], argv[2:]
    from cdktn import App, TerraformStack

    for name in modules:
        importlib.import_module(name)
    from cdktn_provider_google.provider import GoogleProvider

    app = App(outdir=outdir)
    stack = TerraformStack(app, "floor")
    GoogleProvider(stack, "google", project="floor-project", region="europe-west1")
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
