"""Command line of the infrastructure: what the make targets call.

    python -m infra synth [--env ENV]...      validate every environment file, then synthesize
    python -m infra validate [--env ENV]... [--stack DIR]...
                                              the provider schema check (enum values), then
                                              terraform init, validate and plan of each stack
                                              against the stand-in provider (infra.standin)
    python -m infra checkov [--env ENV]...    checkov on each stack and its plan, resource-level
                                              skips honoured
    python -m infra get ENV FIELD             one config value (e.g. state.bucket), for scripts
    python -m infra placeholders ENV          fails naming each value of ENV's file still marked
                                              # REPLACE (before anything acts on ENV's project)
    python -m infra envs                      the environment names

Every command that reads environment files (all but `placeholders`) validates all of them and
checks them against each other first, whichever environments it acts on.

Every failure prints one line per problem to stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from infra.loader import ConfigError, environment_names, load_environments, placeholders

STACK_FILE = "cdk.tf.json"

DEFAULT_OUT = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
DEFAULT_SCRATCH = Path(".make") / "validate"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def with_envs(command: argparse.ArgumentParser) -> None:
        command.add_argument("--env", action="append", help="an environment (default: all)")
        command.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")

    def with_terraform(command: argparse.ArgumentParser) -> None:
        command.add_argument("--terraform", default="terraform", help="the terraform binary")
        command.add_argument(
            "--scratch",
            type=Path,
            default=DEFAULT_SCRATCH,
            help="where each stack is copied and planned (never the stack folder itself)",
        )

    synth = commands.add_parser("synth", help="validate the environment files and synthesize")
    with_envs(synth)
    synth.set_defaults(run=_synth)
    validate = commands.add_parser(
        "validate", help="check stacks against the provider schema, then plan them with terraform"
    )
    with_envs(validate)
    with_terraform(validate)
    validate.add_argument(
        "--stack",
        type=Path,
        action="append",
        help="a synthesized stack folder (holding cdk.tf.json) instead of the environments",
    )
    validate.add_argument(
        "--schema-only", action="store_true", help="only the provider schema check, no terraform"
    )
    validate.set_defaults(run=_validate)
    checkov = commands.add_parser("checkov", help="run checkov on each synthesized stack")
    with_envs(checkov)
    with_terraform(checkov)
    checkov.add_argument("--checkov", default=".venv-checkov/bin/checkov", help="checkov binary")
    checkov.set_defaults(run=_checkov)
    get = commands.add_parser("get", help="print one value of an environment's config")
    get.add_argument("env")
    get.add_argument("field", help="dotted path, e.g. state.bucket")
    get.set_defaults(run=_get)
    marked = commands.add_parser(
        "placeholders", help="fail naming each value of ENV's file still marked # REPLACE"
    )
    marked.add_argument("env")
    marked.set_defaults(run=_placeholders)
    envs = commands.add_parser("envs", help="list the environments")
    envs.set_defaults(run=_envs)
    return parser


def _synth(args: argparse.Namespace) -> int:
    from infra.synth import SynthError, synthesize

    started = time.monotonic()
    envs = load_environments(args.env)  # every file is valid before anything is written
    try:
        written = synthesize(envs, args.out)
    except SynthError as exc:
        print(exc, file=sys.stderr)
        return 1
    took = time.monotonic() - started
    here = Path.cwd()
    for path in written:
        print(f"synthesized {path.relative_to(here) if path.is_relative_to(here) else path}")
    print(f"{len(written)} stack(s) in {took:.1f}s")
    return 0


def _stack_files(args: argparse.Namespace) -> list[Path]:
    names = args.env or environment_names()
    missing = [n for n in names if not (args.out / "stacks" / n / "cdk.tf.json").is_file()]
    if missing:
        raise ConfigError(
            [f"{args.out}/stacks/{n}/cdk.tf.json: missing, run `make synth` first" for n in missing]
        )
    return [args.out / "stacks" / n / "cdk.tf.json" for n in names]


def _stacks(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(name, folder) of each stack to check: the --stack folders, else the environments."""
    if not args.stack:
        return [(path.parent.name, path.parent) for path in _stack_files(args)]
    missing = [f"{f}: no {STACK_FILE} here" for f in args.stack if not (f / STACK_FILE).is_file()]
    if missing:
        raise ConfigError(missing)
    named: list[tuple[str, Path]] = []
    for folder in args.stack:
        name = folder.resolve().name
        taken = {n for n, _ in named}
        named.append((name if name not in taken else f"{name}-{len(named)}", folder))
    return named


def _validate(args: argparse.Namespace) -> int:
    from infra.provider_schema import load_schema
    from infra.schema_check import check_file, count_resources

    stacks = _stacks(args)
    schema = load_schema()
    errors: list[str] = []
    total = 0
    for _name, folder in stacks:
        path = folder / STACK_FILE
        errors.extend(check_file(path, schema))
        total += count_resources(json.loads(path.read_text()))
    for error in errors:
        print(error, file=sys.stderr)
    verdict = f"{len(errors)} error(s)" if errors else "ok"
    summary = f"{total} resources in {len(stacks)} stack(s)"
    print(f"provider schema {schema['version']}: {summary}: {verdict}", flush=True)
    if errors or args.schema_only:
        return 1 if errors else 0
    runs = _plan(args, stacks)
    if runs is None:
        return 1
    for run in runs:
        if run.summary:
            print(f"{run.name}: {run.summary}", flush=True)
        if not run.ok:
            print(_failure(run), file=sys.stderr, flush=True)
    failed = [run.name for run in runs if not run.ok]
    verdict = f"failed in {', '.join(failed)}" if failed else "ok"
    print(f"terraform validate and plan against the stand-in provider: {verdict}")
    return 1 if failed else 0


def _failure(run: Any) -> str:
    what = "warned" if run.failed_step == "warnings" else f"{run.failed_step} failed"
    return f"{run.name}: terraform {what}:\n{run.output}"


def _plan(args: argparse.Namespace, stacks: list[tuple[str, Path]]) -> list[Any] | None:
    """Terraform's plan of each stack against the stand-in, or None when Terraform is missing."""
    import shutil

    from infra.standin.run import plan_stacks

    terraform = shutil.which(args.terraform)
    if terraform is None:
        print(
            f"{args.terraform} not found: this check runs Terraform (>= 1.4) itself, against a"
            " stand-in for the Google provider; install Terraform",
            file=sys.stderr,
        )
        return None
    return plan_stacks(stacks, args.scratch.absolute(), terraform)


def _checkov(args: argparse.Namespace) -> int:
    from infra.checkov_gate import run_gate

    files = _stack_files(args)
    runs = _plan(args, [(path.parent.name, path.parent) for path in files])
    if runs is None:
        return 1
    broken = [run for run in runs if not run.ok]
    for run in broken:
        print(_failure(run), file=sys.stderr)
    if broken:
        return 1
    plans = {run.plan_json: path for run, path in zip(runs, files, strict=True)}
    result = run_gate(Path(args.checkov), files, plans)
    for line in result.report_lines():
        print(line, file=sys.stderr if line.startswith("FAILED") else sys.stdout)
    return 0 if result.ok else 1


def _envs(_args: argparse.Namespace) -> int:
    print(" ".join(environment_names()))
    return 0


def _known(env: str) -> Path:
    """The file of environment `env`, or ConfigError listing the environments."""
    known = environment_names()
    if env not in known:
        raise ConfigError([f"unknown environment {env!r}: environments are {', '.join(known)}"])
    return Path("environments") / f"{env}.yaml"


def _placeholders(args: argparse.Namespace) -> int:
    """make bootstrap, plan, apply, destroy, build and deploy run this first: the shipped
    placeholder values name projects and buckets that are not yours."""
    path = _known(args.env)
    left = placeholders(path)
    if left:
        raise ConfigError(
            [
                *left,
                f"{len(left)} value(s) of {path} still marked # REPLACE: nothing acts on"
                f" ENV={args.env}'s project until each is replaced (README: Standing up an"
                " environment)",
            ]
        )
    print(f"{path}: no value marked # REPLACE")
    return 0


def _get(args: argparse.Namespace) -> int:
    _known(args.env)
    (env,) = load_environments([args.env])  # checked against the other environments too
    value: Any = env.config.model_dump()
    value["labels"] = env.labels
    for part in args.field.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError([f"{env.path}: {args.field}: no such setting"])
        value = value[part]
    if value is None and args.field == "state.location":
        value = env.config.region
    print(json.dumps(value) if isinstance(value, dict | list) else value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
