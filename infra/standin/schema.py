"""The Google provider's Terraform schema, read from the JavaScript of the pinned bindings.

Why the JavaScript: the stand-in provider (`infra.standin.server`) must answer Terraform's
GetProviderSchema with the real provider's schema, and the real provider cannot be downloaded
here. The `.jsii.tgz` inside `cdktn-provider-google` holds the code that cdktn generated from
that schema, and its regular shape records, for every attribute:

- a comment `// <name> - computed: <bool>, optional: <bool>, required: <bool>` on its getter;
- the getter's body, which names the value type (`getStringAttribute`, `getListAttribute`,
  `cdktn.Fn.tolist(...)` for a set, `new XList(this, "name", <wraps a set>)` for nested objects,
  `new XOutputReference(...)` for a single nested object);
- in the `...ToHclTerraform` tables, for each argument a configuration can set: whether it is a
  block, its collection type (simple, list, set, map, struct) and element type.

The result has the shape of one provider in `terraform providers schema -json` (attributes with
cty types and flags, `block_types` with nesting mode and item limits), so a test can compare it
with what Terraform reports after loading it through the stand-in. Reading ~300 MB of
JavaScript takes a while, so the result is cached per bindings version and `FORMAT`.

What the bindings do not record, and so this schema cannot hold: each attribute's validators,
defaults, ForceNew, `sensitive`, and schema versions (all 0 here); see docs/standin-provider.md.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from infra.provider_schema import PACKAGE, assembly_path

# Bump when the derivation changes, so that stale caches are not reused.
FORMAT = 1
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / ".make" / "provider-schema"
PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/google"
# Meta-arguments that cdktn puts on the provider class; not part of the provider's schema.
PROVIDER_META = frozenset({"alias"})

Block = dict[str, Any]
CtyType = Any  # "string" | ["list", CtyType] | ["object", {name: CtyType}] | ...

_CLASS = re.compile(r"^class (\w+) extends ([\w.]+) \{\n", re.M)
_ENTRY = re.compile(
    r"^    // (\w+) - computed: (true|false), optional: (true|false), required: (true|false)$",
    re.M,
)
_NEW = re.compile(r'^    _\w+ = new (?:\w+\.)?(\w+)\(this, "(\w+)"(?:, (true|false))?\);$', re.M)
_GETTER = re.compile(r"^    get \w+\(\) \{\n        return (.+);$", re.M)
_RESOURCE_TYPE = re.compile(r"terraformResourceType: '(\w+)'")
_PROVIDER_VERSION = re.compile(r"providerVersion: '([\w.]+)'")
_TABLE_FUNCTION = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{\n", re.M)
_TABLE_KEY = re.compile(r"^ +(\w+): \{\n +value: ", re.M)
_TABLE_META = re.compile(r'isBlock: (true|false),\n +type: "(\w+)",\n +storageClassType: "(\w+)",')
_INTERFACE = re.compile(r"^export interface (\w+) \{\n(.*?)^\}", re.M | re.S)
_TS_PROPERTY = re.compile(r"^    readonly (\w+)(\??):", re.M)
_TABLE_CAMEL = re.compile(r"\((?:struct|this)\.(_?\w+)")

# Getter bodies of scalar and primitive-collection attributes, and the cty type each means.
_GETTER_TYPES: dict[str, CtyType] = {
    "this.getStringAttribute": "string",
    "this.getNumberAttribute": "number",
    "this.getBooleanAttribute": "bool",
    "this.getListAttribute": ["list", "string"],
    "cdktn.Fn.tolist(this.getListAttribute": ["set", "string"],
    "this.getNumberListAttribute": ["list", "number"],
    "this.getStringMapAttribute": ["map", "string"],
    "this.getNumberMapAttribute": ["map", "number"],
    "this.getBooleanMapAttribute": ["map", "bool"],
}
_HELPER_TYPES: dict[str, CtyType] = {
    "StringMap": ["map", "string"],
    "NumberMap": ["map", "number"],
    "BooleanMap": ["map", "bool"],
    "StringMapList": ["list", ["map", "string"]],
}
# storageClassType of a settable attribute (not a block) -> cty type, for the table fallback.
_STORAGE_TYPES: dict[tuple[str, str], CtyType] = {
    ("simple", "string"): "string",
    ("simple", "number"): "number",
    ("simple", "boolean"): "bool",
    ("list", "stringList"): ["list", "string"],
    ("list", "numberList"): ["list", "number"],
    ("set", "stringList"): ["set", "string"],
    ("set", "numberList"): ["set", "number"],
    ("map", "stringMap"): ["map", "string"],
    ("map", "numberMap"): ["map", "number"],
    ("map", "booleanMap"): ["map", "bool"],
}


class SchemaDerivationError(Exception):
    """The JavaScript did not have the shape this derivation expects (a new cdktn release?)."""


@dataclass
class _Entry:
    """One attribute of a generated class: its flags and how its getter is written."""

    name: str
    computed: bool
    optional: bool
    required: bool
    getter: str | None
    helper: str | None  # the class of `new X(this, "name", ...)`, if any
    wraps_set: bool
    write_only: bool


@dataclass
class _Sources:
    """Everything parsed from the package: classes by name and HCL tables by struct."""

    classes: dict[str, list[_Entry]] = field(default_factory=dict)
    tables: dict[str, dict[str, tuple[bool, str, str, str]]] = field(default_factory=dict)
    interfaces: dict[str, dict[str, bool]] = field(default_factory=dict)  # camel -> optional
    roots: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, tf type, class)
    provider_version: str | None = None


def load_standin_schema(cache_dir: Path = DEFAULT_CACHE_DIR) -> dict[str, Any]:
    """The provider schema, from the cache when it matches the installed bindings."""
    cache = cache_path(cache_dir)
    if cache.exists():
        cached: dict[str, Any] = json.loads(cache.read_text())
        return cached
    schema = derive_from_package(assembly_path())
    schema["bindings"] = metadata.version(PACKAGE)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=cache_dir, delete=False, suffix=".tmp") as handle:
        json.dump(schema, handle, separators=(",", ":"), sort_keys=True)
    os.replace(handle.name, cache)
    return schema


def cache_path(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Where the schema of the installed bindings is (or will be) cached."""
    return cache_dir / f"google-{metadata.version(PACKAGE)}-terraform-v{FORMAT}.json"


def derive_from_package(tgz: Path) -> dict[str, Any]:
    """Read every JavaScript and declaration file of the bindings and derive the schema."""
    return derive(_package_files(tgz))


def _package_files(tgz: Path) -> Iterator[tuple[str, str]]:
    with tarfile.open(tgz) as archive:
        for member in archive:
            name = member.name
            wanted = name.endswith(".js") or name == "package/lib/provider/index.d.ts"
            if member.isfile() and name.startswith("package/lib/") and wanted:
                handle = archive.extractfile(member)
                assert handle is not None
                yield name, io.TextIOWrapper(handle, encoding="utf-8").read()


def derive(files: Iterator[tuple[str, str]] | list[tuple[str, str]]) -> dict[str, Any]:
    """The schema from (path, text) pairs of the package's `lib/` files."""
    sources = _Sources()
    for path, text in files:
        if path.endswith(".d.ts"):
            _parse_interfaces(text, sources)
        else:
            _parse_js(text, sources)
    if sources.provider_version is None:
        raise SchemaDerivationError("no provider version found in the bindings")
    schema: dict[str, Any] = {
        "format": FORMAT,
        "provider_version": sources.provider_version,
        "provider": {},
        "resource_schemas": {},
        "data_source_schemas": {},
    }
    for kind, tf_type, class_name in sorted(sources.roots):
        block = _class_block(sources, class_name, class_name)
        if kind == "provider":
            for name in PROVIDER_META:
                block["attributes"].pop(name, None)
            schema["provider"] = {"version": 0, "block": block}
        else:
            section = "resource_schemas" if kind == "resource" else "data_source_schemas"
            schema[section][tf_type] = {"version": 0, "block": block}
    if not schema["provider"]:
        raise SchemaDerivationError("no provider class found in the bindings")
    return schema


def _parse_js(text: str, sources: _Sources) -> None:
    for found in _TABLE_FUNCTION.finditer(text):
        end = text.index("\n}\n", found.end())
        sources.tables[found.group(1)] = _parse_table(text[found.end() : end])
    for found in _CLASS.finditer(text):
        name, base = found.group(1), found.group(2)
        end = text.index("\n}\n", found.end())
        body = text[found.end() : end]
        sources.classes[name] = list(_parse_entries(body))
        kind = {
            "cdktn.TerraformResource": "resource",
            "cdktn.TerraformDataSource": "data",
            "cdktn.TerraformProvider": "provider",
        }.get(base)
        if kind is None:
            continue
        resource_type = _RESOURCE_TYPE.search(body)
        if resource_type is None:
            raise SchemaDerivationError(f"class {name}: no terraformResourceType")
        sources.roots.append((kind, resource_type.group(1), name))
        start = body.find("synthesizeHclAttributes() {")
        if start >= 0:
            sources.tables[_lower_first(name)] = _parse_table(body[start:])
        version = _PROVIDER_VERSION.search(body)
        if version and sources.provider_version is None:
            sources.provider_version = version.group(1)


def _parse_entries(body: str) -> Iterator[_Entry]:
    marks = list(_ENTRY.finditer(body))
    for index, mark in enumerate(marks):
        stop = marks[index + 1].start() if index + 1 < len(marks) else len(body)
        chunk = body[mark.end() : stop]
        helper = _NEW.search(chunk)
        getter = _GETTER.search(chunk)
        yield _Entry(
            name=mark.group(1),
            computed=mark.group(2) == "true",
            optional=mark.group(3) == "true",
            required=mark.group(4) == "true",
            getter=getter.group(1) if getter else None,
            helper=helper.group(1) if helper else None,
            wraps_set=bool(helper and helper.group(3) == "true"),
            write_only="@deprecated Write-only" in chunk,
        )


def _parse_table(body: str) -> dict[str, tuple[bool, str, str, str]]:
    """name -> (is a block, collection type, storage class type, camel-case property)."""
    table: dict[str, tuple[bool, str, str, str]] = {}
    keys = list(_TABLE_KEY.finditer(body))
    for index, key in enumerate(keys):
        stop = keys[index + 1].start() if index + 1 < len(keys) else len(body)
        segment = body[key.end() : stop]
        meta = _TABLE_META.search(segment)
        if meta is None:
            raise SchemaDerivationError(f"HCL table entry {key.group(1)}: no type information")
        camel = _TABLE_CAMEL.search(segment[: meta.start()])
        table[key.group(1)] = (
            meta.group(1) == "true",
            meta.group(2),
            meta.group(3),
            camel.group(1).lstrip("_") if camel else "",
        )
    return table


def _parse_interfaces(text: str, sources: _Sources) -> None:
    for found in _INTERFACE.finditer(text):
        props = {m.group(1): m.group(2) == "?" for m in _TS_PROPERTY.finditer(found.group(2))}
        sources.interfaces[found.group(1)] = props


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _class_block(
    sources: _Sources, class_name: str | None, struct: str, seen: tuple[str, ...] = ()
) -> Block:
    """The schema block of a struct: attributes from the class's getters (when the class
    exists) or from its HCL table and TypeScript interface (the provider's own structs).

    A few deep schemas (a parameter value that holds parameter values) reuse one struct at
    several depths, which makes a cycle in the bindings: the block is cut, left empty, the
    second time its struct appears among its own ancestors.
    """
    block: Block = {"attributes": {}, "block_types": {}}
    if seen.count(struct) >= 2:
        return block
    seen = (*seen, struct)
    table = sources.tables.get(_lower_first(struct), {})
    entries = sources.classes.get(class_name or "") if class_name else None
    if entries is None:
        entries = _entries_from_table(sources, struct, table)
    for entry in entries:
        settable = table.get(entry.name)
        if settable and settable[0]:
            block["block_types"][entry.name] = _nested_block(sources, entry, settable, seen)
            continue
        attribute: dict[str, Any] = {"type": _attribute_type(sources, entry, settable, seen)}
        if entry.required:
            attribute["required"] = True
        if entry.optional:
            attribute["optional"] = True
        if entry.computed:
            attribute["computed"] = True
        if entry.write_only:
            attribute["write_only"] = True
        if not (entry.required or entry.optional or entry.computed):
            raise SchemaDerivationError(f"{struct}.{entry.name}: neither set nor computed")
        block["attributes"][entry.name] = attribute
    missing = set(table) - set(block["attributes"]) - set(block["block_types"]) - PROVIDER_META
    if missing:
        raise SchemaDerivationError(f"{struct}: settable but without a getter: {sorted(missing)}")
    return block


def _entries_from_table(
    sources: _Sources, struct: str, table: dict[str, tuple[bool, str, str, str]]
) -> list[_Entry]:
    """Entries of a struct that has no generated class: only the provider's own blocks."""
    optional = sources.interfaces.get(struct)
    if optional is None:
        raise SchemaDerivationError(f"struct {struct}: neither a class nor an interface")
    entries = []
    for name, (_is_block, _kind, _storage, camel) in table.items():
        is_optional = optional.get(camel, True)
        entries.append(_Entry(name, False, is_optional, not is_optional, None, None, False, False))
    return entries


def _nested_block(
    sources: _Sources, entry: _Entry, settable: tuple[bool, str, str, str], seen: tuple[str, ...]
) -> dict[str, Any]:
    _, kind, storage, _camel = settable
    struct = storage[: -len("List")] if kind in {"list", "set"} else storage
    element_class = f"{struct}OutputReference"
    nested: dict[str, Any] = {
        "nesting_mode": {"list": "list", "set": "set", "struct": "single"}[kind],
        "block": _class_block(
            sources,
            element_class if element_class in sources.classes else None,
            struct,
            seen,
        ),
    }
    if kind in {"list", "set"}:
        # SDKv2 reports a required block as needing at least one item, a block of at most one
        # item (which the bindings model as an OutputReference, not a List) as max_items 1.
        if entry.required:
            nested["min_items"] = 1
        if entry.helper and entry.helper.endswith("OutputReference"):
            nested["max_items"] = 1
    return nested


def _attribute_type(
    sources: _Sources,
    entry: _Entry,
    settable: tuple[bool, str, str, str] | None,
    seen: tuple[str, ...],
) -> CtyType:
    if entry.helper:
        helper = entry.helper
        if helper in _HELPER_TYPES:
            return _HELPER_TYPES[helper]
        if helper.endswith("OutputReference"):
            return ["list", _object_type(sources, helper[: -len("OutputReference")], seen)]
        if helper.endswith("List"):
            element = _object_type(sources, helper[: -len("List")], seen)
            return ["set" if entry.wraps_set else "list", element]
        raise SchemaDerivationError(f"{entry.name}: unknown helper class {helper}")
    if entry.getter:
        for prefix, cty_type in sorted(_GETTER_TYPES.items(), key=lambda kv: -len(kv[0])):
            if entry.getter.startswith(prefix + "("):
                return cty_type
    if settable:
        found = _STORAGE_TYPES.get((settable[1], settable[2]))
        if found is not None:
            return found
    raise SchemaDerivationError(f"{entry.name}: cannot tell its type from {entry.getter!r}")


def _object_type(sources: _Sources, struct: str, seen: tuple[str, ...]) -> CtyType:
    """The cty object type of a computed-only nested structure (every attribute, recursively)."""
    return _implied_type(_class_block(sources, f"{struct}OutputReference", struct, seen))


def _implied_type(block: Block) -> CtyType:
    attributes = {name: spec["type"] for name, spec in block["attributes"].items()}
    for name, nested in block["block_types"].items():
        inner = _implied_type(nested["block"])
        mode = nested["nesting_mode"]
        attributes[name] = inner if mode == "single" else [mode, inner]
    return ["object", attributes]
