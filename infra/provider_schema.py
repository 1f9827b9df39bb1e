"""The Google provider's schema, recovered offline from the jsii assembly of the bindings.

Why: `terraform validate` needs the provider binary, which cannot be downloaded here. The
`.jsii` assembly inside `cdktn-provider-google` records, for every resource, its config struct:
each property's Terraform name (the registry link in its docs ends in `#<tf_name>`), whether it is
optional, whether it is a nested block (a struct type, possibly in a list), and in its docs the
"Possible values" of enums. Loading the 130 MB assembly takes seconds, so the derived schema is
cached as JSON keyed on the package version.

Schema shape (plain JSON):
    block = {"attributes": {name: {"required": bool, "kind": "scalar"|"list"|"map"|"any",
                                   "enum": [..] | None}},
             "blocks": {name: {"required": bool, "list": bool, "block": block}}}
    schema = {"version": str, "resources": {type: block}, "data": {type: block},
              "provider": block}
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = "cdktn-provider-google"
ASSEMBLY_MEMBER = "package/.jsii"
# Bump when the derivation below changes, so stale caches are not reused.
FORMAT = 2
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / ".make" / "provider-schema"

_TF_NAME = re.compile(r"\w#([A-Za-z0-9_]+)\}")
_POSSIBLE = re.compile(r"Possible values: \[([^\]]*)\]")
_QUOTED = re.compile(r'"([^"]*)"')
_RESOURCE_LINK = re.compile(r"/docs/(resources|data-sources)/\S+ (\w+)\}")

Block = dict[str, Any]


def assembly_path() -> Path:
    """The jsii tarball shipped inside the installed bindings."""
    # find_spec locates the package without importing it (importing starts the jsii runtime).
    spec = importlib.util.find_spec("cdktn_provider_google")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"{PACKAGE} is not installed")
    folder = Path(spec.origin).parent / "_jsii"
    found = sorted(folder.glob("provider-google@*.jsii.tgz"))
    if not found:
        raise FileNotFoundError(f"no jsii assembly in {folder}")
    return found[-1]


def load_schema(cache_dir: Path = DEFAULT_CACHE_DIR) -> dict[str, Any]:
    """The provider schema: from the cache when it matches the installed version, else derived."""
    version = metadata.version(PACKAGE)
    cache = cache_dir / f"google-{version}-v{FORMAT}.json"
    if cache.exists():
        cached: dict[str, Any] = json.loads(cache.read_text())
        return cached
    schema = derive_schema(_read_assembly(assembly_path()))
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=cache_dir, delete=False, suffix=".tmp") as handle:
        json.dump(schema, handle)
    os.replace(handle.name, cache)
    return schema


def _read_assembly(path: Path) -> dict[str, Any]:
    with tarfile.open(path) as archive:
        member = archive.extractfile(ASSEMBLY_MEMBER)
        if member is None:
            raise FileNotFoundError(f"{ASSEMBLY_MEMBER} missing in {path}")
        assembly: dict[str, Any] = json.load(member)
        return assembly


def derive_schema(assembly: dict[str, Any]) -> dict[str, Any]:
    """Walk every resource, data source and the provider class to their config structs."""
    types: dict[str, Any] = assembly["types"]
    schema: dict[str, Any] = {
        "version": assembly["version"],
        "resources": {},
        "data": {},
        "provider": {},
    }
    for jsii_type in types.values():
        base = jsii_type.get("base")
        if base not in {
            "cdktn.TerraformResource",
            "cdktn.TerraformDataSource",
            "cdktn.TerraformProvider",
        }:
            continue
        config_fqn = _config_fqn(jsii_type)
        if config_fqn is None:
            continue
        block = _block(types, config_fqn, ())
        if base == "cdktn.TerraformProvider":
            schema["provider"] = block
            continue
        link = _RESOURCE_LINK.search(jsii_type.get("docs", {}).get("summary", ""))
        if link is None:
            continue
        section = "resources" if link.group(1) == "resources" else "data"
        schema[section][link.group(2)] = block
    return schema


def _config_fqn(jsii_type: dict[str, Any]) -> str | None:
    for param in (jsii_type.get("initializer") or {}).get("parameters", []):
        if param["name"] == "config":
            fqn: str | None = param["type"].get("fqn")
            return fqn
    return None


def _properties(types: dict[str, Any], fqn: str) -> list[dict[str, Any]]:
    """A struct's own properties and those of the provider structs it extends."""
    struct = types[fqn]
    props = list(struct.get("properties", []))
    for parent in struct.get("interfaces", []):
        if parent in types:
            props.extend(_properties(types, parent))
    return props


def _block(types: dict[str, Any], fqn: str, seen: tuple[str, ...]) -> Block:
    block: Block = {"attributes": {}, "blocks": {}}
    if fqn in seen:  # defensive: Terraform schemas are trees, but never loop forever
        return block
    for prop in _properties(types, fqn):
        name = _tf_name(prop)
        required = not prop.get("optional", False)
        nested, is_list = _struct_of(types, prop["type"])
        if nested is not None:
            block["blocks"][name] = {
                "required": required,
                "list": is_list,
                "block": _block(types, nested, (*seen, fqn)),
            }
        else:
            block["attributes"][name] = {
                "required": required,
                "kind": _kind(prop["type"]),
                "enum": _enum(prop),
            }
    return block


def _struct_of(types: dict[str, Any], type_ref: dict[str, Any]) -> tuple[str | None, bool]:
    """(struct fqn, is it a list) when the property is a nested block, else (None, False)."""
    if "fqn" in type_ref:
        target = types.get(type_ref["fqn"])
        return (type_ref["fqn"], False) if target and target.get("datatype") else (None, False)
    if "collection" in type_ref:
        inner, _ = _struct_of(types, type_ref["collection"]["elementtype"])
        return (inner, True) if inner else (None, False)
    if "union" in type_ref:
        for member in type_ref["union"]["types"]:
            inner, is_list = _struct_of(types, member)
            if inner:
                return inner, is_list
    return None, False


def _kind(type_ref: dict[str, Any]) -> str:
    if "collection" in type_ref:
        return "list" if type_ref["collection"]["kind"] == "array" else "map"
    if "union" in type_ref:
        kinds = {_kind(t) for t in type_ref["union"]["types"]} - {"any"}
        return kinds.pop() if len(kinds) == 1 else "any"
    if "primitive" in type_ref:
        return "any" if type_ref["primitive"] == "any" else "scalar"
    return "any"  # cdktn.IResolvable and friends: anything that resolves


def _tf_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    found = _TF_NAME.findall(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
    if found:
        name: str = found[-1]
        return name
    # A few docs are truncated before their link: fall back to the jsii -> snake_case rule.
    return re.sub(r"(?<!^)(?=[A-Z])", "_", prop["name"]).lower()


def _enum(prop: dict[str, Any]) -> list[str] | None:
    docs = prop.get("docs", {})
    found = _POSSIBLE.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
    if found is None:
        return None
    values = _QUOTED.findall(found.group(1))
    return values or None
