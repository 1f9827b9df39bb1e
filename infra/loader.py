"""Read and validate environment files, turning every mistake into one readable line.

Each error line has the form `environments/prod.yaml: compute.api.max_instances: must be >=
min_instances (2), got 1`: the file, the dotted path of the field, and what is allowed. All
files are validated before the caller does anything, so one wrong file stops the whole run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from infra.config import Environment, EnvironmentConfig

ENVIRONMENTS_DIR = Path("environments")
ENV_NAME = r"^[a-z][a-z0-9-]{0,19}$"
# libyaml's safe loader when PyYAML has it: the same values as `yaml.safe_load`, 15x faster.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "tuple": "a list",
    "dict": "a mapping",
    "model": "a mapping",
}


class ConfigError(Exception):
    """One or more environment files are wrong; `lines` holds one message per problem."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def environment_names(directory: Path = ENVIRONMENTS_DIR) -> list[str]:
    """The environments that exist: one `<name>.yaml` file each, sorted."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_environments(
    names: Iterable[str] | None = None, directory: Path = ENVIRONMENTS_DIR
) -> list[Environment]:
    """Validate the named environments (default: all) and return them, or raise ConfigError."""
    known = environment_names(directory)
    wanted = known if names is None else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ConfigError(
            [
                f"unknown environment {name!r}: environments are {', '.join(known) or '(none)'}"
                for name in unknown
            ]
        )
    if not wanted:
        raise ConfigError([f"{_shown(directory)}: no environment files (*.yaml) found"])
    loaded: list[Environment] = []
    errors: list[str] = []
    for name in wanted:
        try:
            loaded.append(load_environment(directory / f"{name}.yaml"))
        except ConfigError as exc:
            errors.extend(exc.lines)
    if errors:
        raise ConfigError(errors)
    _check_distinct(loaded, errors)
    if errors:
        raise ConfigError(errors)
    return loaded


def load_environment(path: Path) -> Environment:
    """Parse and validate one environment file."""
    shown = _shown(path)
    try:
        raw = _parse_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot be read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{shown}: is not valid YAML{line}: {problem}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{shown}: must be a mapping of settings, got {type(raw).__name__}"])
    try:
        config = EnvironmentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([f"{shown}: {_describe(err)}" for err in exc.errors()]) from None
    return Environment(name=path.stem, path=shown, config=config)


def _parse_yaml(text: str) -> Any:
    """`yaml.safe_load`, parsed by libyaml; a file it refuses is parsed again by PyYAML, whose
    error messages name what it found (libyaml's often do not)."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)


def _check_distinct(envs: list[Environment], errors: list[str]) -> None:
    """Two environments must never share a project or a state location."""
    seen_projects: dict[str, str] = {}
    seen_states: dict[tuple[str, str], str] = {}
    for env in envs:
        cfg = env.config
        other = seen_projects.setdefault(cfg.project_id, env.name)
        if other != env.name:
            errors.append(
                f"{env.path}: project_id: must differ from environment {other!r}"
                f" (one project per environment), got {cfg.project_id!r}"
            )
        state = (cfg.state.bucket, cfg.state.prefix.strip("/"))
        other = seen_states.setdefault(state, env.name)
        if other != env.name:
            errors.append(
                f"{env.path}: state.prefix: must differ from environment {other!r}"
                f" in the same bucket, got {cfg.state.prefix!r}"
            )


def _describe(err: Any) -> str:
    """`field.path: what is allowed` for one pydantic error."""
    loc = ".".join(str(part) for part in err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "invalid":
        message = err["msg"]
    elif kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = f"is not a known setting ({_allowed_keys(err['loc'])})"
    elif kind == "literal_error":
        message = f"must be one of {ctx.get('expected', '?')}, got {given!r}"
    elif kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        sign = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        bound = next(iter(ctx.values()))
        message = f"must be {sign} {bound}, got {given!r}"
    elif kind == "string_pattern_mismatch":
        message = f"must match {ctx.get('pattern')}, got {given!r}"
    elif kind.endswith(("_type", "_parsing")):
        expected = kind.removesuffix("_type").removesuffix("_parsing")
        message = f"must be {TYPE_NAMES.get(expected, expected)}, got {given!r}"
    else:
        message = f"{err['msg'][:1].lower()}{err['msg'][1:]}, got {given!r}"
    return f"{loc}: {message}" if loc else message


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    """The settings allowed where an unknown key was found."""
    model: Any = EnvironmentConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None or not hasattr(field.annotation, "model_fields"):
            return "see infra/config.py"
        model = field.annotation
    return "allowed: " + ", ".join(model.model_fields)


def _shown(path: Path) -> str:
    """The path as the user would type it: relative to the working directory when inside it."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)
