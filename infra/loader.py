"""Read and validate environment files, turning every mistake into one readable line.

Each error line has the form `environments/prod.yaml: compute.api.max_instances: must be >=
min_instances (2), got 1`: the file, the dotted path of the field, and what is allowed. All
files are validated before the caller does anything, so one wrong file stops the whole run.
"""

from __future__ import annotations

import re
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
# The comment that marks a shipped value as a placeholder (see `placeholders`).
REPLACE_MARKER = re.compile(r"#\s*REPLACE\b")


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
    """Validate the named environments (default: all) and return them, or raise ConfigError.

    Every file is validated and the environments are checked against each other even when only
    some are named: a new file copied from another one must fail its first `synth ENV=x`, not
    plan against the other environment's project and state.
    """
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
    # The named ones last: a clash is reported in the file of the environment being worked on.
    order = [n for n in known if n not in wanted] + [n for n in known if n in wanted]
    loaded: list[Environment] = []
    errors: list[str] = []
    for name in order:
        try:
            loaded.append(load_environment(directory / f"{name}.yaml"))
        except ConfigError as exc:
            errors.extend(exc.lines)
    if errors:
        raise ConfigError(errors)
    errors = check_distinct(loaded)
    if errors:
        raise ConfigError(errors)
    by_name = {env.name: env for env in loaded}
    return [by_name[name] for name in wanted]


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


def check_distinct(envs: Sequence[Environment]) -> list[str]:
    """What two environments share that must be one environment's alone, one line each.

    - `project_id`: the stack owns project-wide settings (the enabled APIs, Identity Platform's
      one configuration, the `_Default` log bucket's retention, project IAM grants), which two
      stacks would fight over and one `make destroy` would take from the other.
    - `project_number`: it names one project and its service agents, which get grants: an equal
      number under another id is a copied file whose number was not replaced.
    - `state.bucket` with `state.prefix`: two stacks on one state each plan to delete the
      other's resources.
    - `edge.domains` (where the edge is on): a domain points at one load balancer; another
      environment's certificate for it never becomes active, and its customers would reach
      whichever environment the DNS names.

    Names made from `name_prefix` (services, databases, topics, key rings) are unique within a
    project, which is already one environment's; across projects the prefix may repeat.
    """
    errors: list[str] = []
    owners: dict[tuple[str, object], str] = {}

    def claim(env: Environment, field: str, value: object, why: str, shown: object = None) -> None:
        """`shown`: what the error names, where the value compared is more than the field."""
        owner = owners.setdefault((field, value), env.name)
        if owner != env.name:
            errors.append(
                f"{env.path}: {field}: must differ from environment {owner!r} ({why}),"
                f" got {value if shown is None else shown!r}"
            )

    for env in envs:
        cfg = env.config
        claim(env, "project_id", cfg.project_id, "one project per environment")
        claim(env, "project_number", cfg.project_number, "it names one project")
        claim(
            env,
            "state.prefix",
            (cfg.state.bucket, cfg.state.prefix.strip("/")),
            f"it holds that environment's state in bucket {cfg.state.bucket!r}",
            shown=cfg.state.prefix.strip("/"),
        )
        for domain in cfg.edge.domains if cfg.edge.enabled else []:
            claim(env, "edge.domains", domain, "a domain points at one load balancer")
    return errors


def placeholders(path: Path) -> list[str]:
    """One line for each value of the file still marked `# REPLACE`, naming its key.

    The rule: a value counts as replaced once its line no longer carries the marker, so whoever
    puts in their own value deletes the marker with it. No record of the shipped values is
    needed, and a file copied from a shipped one keeps its markers until each value is
    replaced. A marker on a line of its own (no value there) marks nothing.
    """
    shown = _shown(path)
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        raise ConfigError([f"{shown}: is not valid YAML: run make synth for details"]) from None
    lines: dict[int, _Line] = {}
    if root is not None:
        _index_lines(root, "", lines)
    found = []
    for number, line_text in enumerate(text.splitlines()):
        marker = REPLACE_MARKER.search(line_text)
        line = lines.get(number)
        if marker is None or line is None or marker.start() < line.end:
            continue  # no marker, a comment line, or the words are inside a quoted value
        values = line.values[0] if len(line.values) == 1 else line.values
        value = f"the placeholder {values!r}" if values else "a placeholder"
        found.append(
            f"{shown}: {line.key}: still {value} (line {number + 1}, marked # REPLACE):"
            " put in your own value and delete the marker"
        )
    return found


class _Line:
    """What one line of a YAML file holds: the key it starts, its scalar values, where they end."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.values: list[str] = []
        self.end = 0


def _index_lines(node: yaml.Node, key: str, lines: dict[int, _Line]) -> None:
    """Fill `lines` with the dotted key (`edge.domains[0]`) and the values on each line."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{key}.{key_node.value}" if key else str(key_node.value)
            line = lines.setdefault(key_node.start_mark.line, _Line(child))
            line.end = max(line.end, key_node.end_mark.column)
            _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, f"{key}[{index}]", lines)
    elif isinstance(node, yaml.ScalarNode):
        line = lines.setdefault(node.start_mark.line, _Line(key))
        line.values.append(node.value)
        if node.end_mark.line == node.start_mark.line:
            line.end = max(line.end, node.end_mark.column)


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
