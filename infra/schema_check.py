"""An offline stand-in for `terraform validate`: hold synthesized stacks against the schema.

Why: the provider binary cannot be downloaded on the machines that run the tests, yet a
misspelled attribute, a missing required one, a block written as a plain value or an enum value
the API refuses would only surface at `terraform plan`. The schema comes from
`infra.provider_schema`. Values that are Terraform expressions (`${...}`) are unknown until
apply and are not checked. Of the meta-arguments only `depends_on` is checked: Terraform takes
its entries as bare references to objects the configuration declares (`type.name`,
`data.type.name`, `module.name`) and refuses an interpolation or an undeclared name.

Resource types of Terraform's built-in provider (`terraform.io/builtin/terraform`) are not in
the Google schema; those a stack may use are described here in `BUILTIN_RESOURCES` from
Terraform's documentation, so they are checked rather than reported as unknown. Provisioners
are Terraform's own too: a resource's `provisioner` list is held to `BUILTIN_PROVISIONERS`
(each entry `{"<type>": {arguments}}`), so a misspelled argument or a missing `command` fails
here, not at the apply that runs it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

META_ARGUMENTS = frozenset(
    {"//", "depends_on", "lifecycle", "provider", "count", "for_each", "connection", "provisioner"}
)
# `terraform_data` (Terraform >= 1.4): both arguments optional and of any type; `id` and
# `output` are computed, so a configuration never sets them.
BUILTIN_RESOURCES: dict[str, Any] = {
    "terraform_data": {
        "attributes": {
            "input": {"required": False, "kind": "any", "enum": None},
            "triggers_replace": {"required": False, "kind": "any", "enum": None},
        },
        "blocks": {},
    },
}
# Provisioners a stack may use, from Terraform's documentation. `when` and `on_failure` are the
# meta-arguments every provisioner takes.
BUILTIN_PROVISIONERS: dict[str, Any] = {
    "local-exec": {
        "attributes": {
            "command": {"required": True, "kind": "scalar", "enum": None},
            "working_dir": {"required": False, "kind": "scalar", "enum": None},
            "interpreter": {"required": False, "kind": "list", "enum": None},
            "environment": {"required": False, "kind": "map", "enum": None},
            "when": {"required": False, "kind": "scalar", "enum": ["create", "destroy"]},
            "on_failure": {"required": False, "kind": "scalar", "enum": ["continue", "fail"]},
        },
        "blocks": {},
    },
}
_REFERENCE = re.compile(r"^(?:data\.)?[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*$|^module\.[A-Za-z_][\w-]*$")


def check_file(path: Path, schema: dict[str, Any]) -> list[str]:
    """Every schema error in one `cdk.tf.json`, each prefixed with the file."""
    tf = json.loads(path.read_text())
    return [f"{path}: {error}" for error in check_stack(tf, schema)]


def check_stack(tf: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every schema error in a parsed stack: resources, data sources and provider configs."""
    errors: list[str] = []
    declared = _declared(tf)
    types = {"resource": {**BUILTIN_RESOURCES, **schema["resources"]}, "data": schema["data"]}
    for section, prefix in (("resource", ""), ("data", "data.")):
        known = types[section]
        for rtype, instances in tf.get(section, {}).items():
            if rtype == "//":
                continue
            block = known.get(rtype)
            for name, config in instances.items():
                address = f"{prefix}{rtype}.{name}"
                if isinstance(config, dict) and "depends_on" in config:
                    errors.extend(_check_depends_on(config["depends_on"], address, declared))
                if section == "resource" and isinstance(config, dict) and "provisioner" in config:
                    errors.extend(_check_provisioners(config["provisioner"], address))
                if block is None:
                    errors.append(f"{address}: unknown {section} type {rtype!r}")
                    continue
                errors.extend(_check_block(block, config, address, top=True))
    for pname, configs in tf.get("provider", {}).items():
        if pname != "google":
            continue
        for config in configs if isinstance(configs, list) else [configs]:
            errors.extend(_check_block(schema["provider"], config, f"provider.{pname}", top=True))
    return errors


def count_resources(tf: dict[str, Any]) -> int:
    """How many resources a stack declares (for the summary line)."""
    return sum(len(v) for k, v in tf.get("resource", {}).items() if k != "//")


def _declared(tf: dict[str, Any]) -> set[str]:
    """The addresses a `depends_on` may name: every resource, data source and module."""
    found = {f"module.{name}" for name in tf.get("module", {}) if name != "//"}
    for section, prefix in (("resource", ""), ("data", "data.")):
        for rtype, instances in tf.get(section, {}).items():
            if rtype != "//":
                found.update(f"{prefix}{rtype}.{name}" for name in instances)
    return found


def _check_depends_on(value: Any, where: str, declared: set[str]) -> list[str]:
    if not isinstance(value, list):
        return [f"{where}.depends_on: must be a list of references, got {_short(value)}"]
    errors: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not _REFERENCE.match(entry):
            errors.append(
                f"{where}.depends_on: {_short(entry)} is not a reference; Terraform takes a bare "
                "address such as google_project_service.run, without ${...}"
            )
        elif entry not in declared:
            errors.append(f"{where}.depends_on: {entry} is not declared in this stack")
    return errors


def _check_provisioners(value: Any, where: str) -> list[str]:
    """A resource's provisioners: a list of `{type: arguments}` (or one such object)."""
    errors: list[str] = []
    for index, entry in enumerate(value if isinstance(value, list) else [value]):
        path = f"{where}.provisioner[{index}]"
        if not isinstance(entry, dict) or not entry:
            errors.append(f"{path}: must be an object {{type: arguments}}, got {_short(entry)}")
            continue
        for kind, arguments in entry.items():
            spec = BUILTIN_PROVISIONERS.get(kind)
            if spec is None:
                known = ", ".join(BUILTIN_PROVISIONERS)
                errors.append(f"{path}: unknown provisioner {kind!r} (described here: {known})")
            else:
                errors.extend(_check_block(spec, arguments, f"{path}.{kind}"))
    return errors


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _check_block(block: dict[str, Any], value: Any, where: str, top: bool = False) -> list[str]:
    if _is_expression(value):
        return []
    if not isinstance(value, dict):
        return [f"{where}: must be a block (an object), got {_short(value)}"]
    errors: list[str] = []
    attributes, blocks = block["attributes"], block["blocks"]
    present = set(value)
    for key, item in value.items():
        if top and key in META_ARGUMENTS:
            continue
        path = f"{where}.{key}"
        if key == "dynamic" and isinstance(item, dict):
            errors.extend(_check_dynamic(blocks, item, path))
            present.update(item)
        elif key in attributes:
            errors.extend(_check_attribute(attributes[key], item, path))
        elif key in blocks:
            errors.extend(_check_nested(blocks[key], item, path))
        else:
            errors.append(f"{path}: unknown attribute{_suggest(key, [*attributes, *blocks])}")
    for key, spec in (*attributes.items(), *blocks.items()):
        if spec["required"] and key not in present:
            kind = "block" if key in blocks else "attribute"
            errors.append(f"{where}: missing required {kind} {key!r}")
    return errors


def _check_nested(spec: dict[str, Any], item: Any, path: str) -> list[str]:
    if _is_expression(item):
        return []
    if isinstance(item, list):
        if not spec["list"] and len(item) > 1:
            return [f"{path}: takes a single block, got a list of {len(item)}"]
        errors: list[str] = []
        for index, element in enumerate(item):
            errors.extend(_check_block(spec["block"], element, f"{path}[{index}]"))
        return errors
    return _check_block(spec["block"], item, path)


def _check_dynamic(blocks: dict[str, Any], dynamic: dict[str, Any], path: str) -> list[str]:
    errors: list[str] = []
    for name, body in dynamic.items():
        if name not in blocks:
            errors.append(f"{path}.{name}: unknown block{_suggest(name, list(blocks))}")
        elif isinstance(body, dict) and "content" in body:
            errors.extend(_check_block(blocks[name]["block"], body["content"], f"{path}.{name}"))
    return errors


def _check_attribute(spec: dict[str, Any], item: Any, path: str) -> list[str]:
    if _is_expression(item) or item is None:
        return []
    kind = spec["kind"]
    if kind == "scalar" and isinstance(item, dict | list):
        return [f"{path}: must be a single value, got {_short(item)}"]
    if kind == "list" and isinstance(item, dict):
        return [f"{path}: must be a list, got {_short(item)}"]
    if kind == "map" and not isinstance(item, dict):
        return [f"{path}: must be a map, got {_short(item)}"]
    allowed = spec.get("enum")
    if not allowed:
        return []
    values: Iterable[Any] = item if isinstance(item, list) else [item]
    return [
        f"{path}: {value!r} is not one of {', '.join(allowed)}"
        for value in values
        if isinstance(value, str) and not _is_expression(value) and value not in allowed
    ]


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
