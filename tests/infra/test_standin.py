"""The stand-in Google provider: its schema, its protocol, and what Terraform does with it.

The schema is derived from the bindings' JavaScript; two independent checks hold it to the
truth: it must agree with the schema the `.jsii` assembly records (names, requiredness, block
or value, single or many), and Terraform must report back exactly that schema after loading it
through the plugin protocol (`terraform providers schema -json`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from infra.standin import schema as standin_schema
from infra.standin import server, stubs
from infra.standin.run import terraform_environment
from tests.infra.conftest import REPO

PROVIDER = "registry.terraform.io/hashicorp/google"


@pytest.fixture(scope="module")
def derived() -> dict[str, Any]:
    return standin_schema.load_standin_schema()


def test_the_schema_covers_every_resource_and_data_source(derived: dict[str, Any]) -> None:
    assert derived["provider_version"] == "8.7.0"
    assert len(derived["resource_schemas"]) == 1375
    assert len(derived["data_source_schemas"]) == 471
    assert "project" in derived["provider"]["block"]["attributes"]
    assert "alias" not in derived["provider"]["block"]["attributes"], "a meta-argument"


def test_types_flags_and_nesting(derived: dict[str, Any]) -> None:
    subscription = derived["resource_schemas"]["google_pubsub_subscription"]["block"]
    attributes, blocks = subscription["attributes"], subscription["block_types"]
    assert attributes["name"] == {"type": "string", "required": True}
    assert attributes["ack_deadline_seconds"] == {
        "type": "number",
        "optional": True,
        "computed": True,
    }
    assert attributes["enable_message_ordering"] == {"type": "bool", "optional": True}
    assert attributes["labels"] == {"type": ["map", "string"], "optional": True}
    assert attributes["effective_labels"] == {"type": ["map", "string"], "computed": True}
    push = blocks["push_config"]
    assert (push["nesting_mode"], push.get("max_items"), push.get("min_items")) == ("list", 1, None)
    assert push["block"]["attributes"]["push_endpoint"] == {"type": "string", "required": True}
    assert push["block"]["block_types"]["oidc_token"]["max_items"] == 1
    assert blocks["timeouts"]["nesting_mode"] == "single"
    assert blocks["message_transforms"].get("max_items") is None, "a list of many"

    run = derived["resource_schemas"]["google_cloud_run_v2_service"]["block"]
    template = run["block_types"]["template"]
    assert (template["min_items"], template["max_items"]) == (1, 1), "required, single"
    assert template["block"]["block_types"]["containers"]["nesting_mode"] == "list"
    conditions = run["attributes"]["conditions"]
    assert conditions["computed"] and not conditions.get("optional")
    assert conditions["type"][0] == "list" and conditions["type"][1][0] == "object"
    assert conditions["type"][1][1]["state"] == "string"

    bucket = derived["resource_schemas"]["google_storage_bucket"]["block"]
    action = bucket["block_types"]["lifecycle_rule"]["block"]["block_types"]["action"]
    assert (action["nesting_mode"], action["min_items"], action["max_items"]) == ("set", 1, 1)
    binding = derived["resource_schemas"]["google_project_iam_binding"]["block"]
    assert binding["attributes"]["members"]["type"] == ["set", "string"]
    secret = derived["resource_schemas"]["google_secret_manager_secret_version"]["block"]
    assert secret["attributes"]["secret_data_wo"]["write_only"] is True


def test_the_schema_agrees_with_the_jsii_assembly(
    derived: dict[str, Any], provider_schema: dict[str, Any]
) -> None:
    """Two derivations from two parts of the bindings: every settable attribute and block,
    its requiredness, and whether it takes one block or many, must be the same."""
    problems: list[str] = []

    def compare(old: dict[str, Any], new: dict[str, Any], where: str) -> None:
        settable = {
            name
            for name, spec in new["attributes"].items()
            if spec.get("optional") or spec.get("required")
        }
        if set(old["attributes"]) != settable:
            problems.append(f"{where}: attributes {sorted(set(old['attributes']) ^ settable)}")
        for name in set(old["attributes"]) & settable:
            if old["attributes"][name]["required"] != bool(new["attributes"][name].get("required")):
                problems.append(f"{where}.{name}: requiredness")
        if set(old["blocks"]) != set(new["block_types"]):
            problems.append(
                f"{where}: blocks {sorted(set(old['blocks']) ^ set(new['block_types']))}"
            )
        for name in set(old["blocks"]) & set(new["block_types"]):
            before, after = old["blocks"][name], new["block_types"][name]
            if before["required"] != (after.get("min_items", 0) >= 1):
                problems.append(f"{where}.{name}: block requiredness")
            one = after["nesting_mode"] == "single" or after.get("max_items") == 1
            if before["list"] == one:
                problems.append(f"{where}.{name}: single or many")
            compare(before["block"], after["block"], f"{where}.{name}")

    for old_section, new_section in (
        ("resources", "resource_schemas"),
        ("data", "data_source_schemas"),
    ):
        assert set(provider_schema[old_section]) == set(derived[new_section])
        for name, block in provider_schema[old_section].items():
            compare(block, derived[new_section][name]["block"], name)
    old_provider = dict(provider_schema["provider"])
    compare(old_provider, derived["provider"]["block"], "provider")
    # Known: the bindings reuse one struct at several depths of a recursive parameter value;
    # the two derivations cut that cycle at different depths. And `alias` is a meta-argument.
    expected = {
        p
        for p in problems
        if p.startswith("google_cloud_security_compliance_cloud_control.parameter_spec.")
        or p == "provider: attributes ['alias']"
    }
    assert sorted(set(problems) - expected) == []
    assert len(expected) <= 9


def _without_empty(value: Any) -> Any:
    """Terraform's JSON leaves out descriptions' kind and empty attribute or block maps."""
    if isinstance(value, dict):
        return {
            k: _without_empty(v) for k, v in value.items() if k != "description_kind" and v != {}
        }
    return value


def test_terraform_reports_back_exactly_the_derived_schema(
    derived: dict[str, Any], stack_plans: dict[str, Any], standin_mirror: Any, terraform: str
) -> None:
    """After GetProviderSchema through the plugin protocol, Terraform's own view of the
    provider is the derived schema, attribute for attribute."""
    done = subprocess.run(
        [terraform, "providers", "schema", "-json"],
        cwd=stack_plans["dev"].work_dir,
        env=terraform_environment(standin_mirror),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    reported = json.loads(done.stdout)["provider_schemas"][PROVIDER]
    for section in ("provider", "resource_schemas", "data_source_schemas"):
        assert _without_empty(reported[section]) == _without_empty(derived[section]), section


def test_terraform_test_runs_with_a_mock_provider(
    terraform: str, standin_mirror: Any, tmp_path: Path
) -> None:
    """`terraform test` with `mock_provider "google"` takes the schema from the stand-in and
    the values from the mocks."""
    (tmp_path / "main.tf").write_text(
        """
terraform {
  required_providers {
    google = { source = "hashicorp/google", version = "8.7.0" }
  }
}
provider "google" { project = "acme-test" }
resource "google_pubsub_topic" "inquiries" { name = "inquiries" }
resource "google_pubsub_subscription" "push" {
  name  = "push"
  topic = google_pubsub_topic.inquiries.id
  push_config { push_endpoint = "https://worker.example/push" }
}
"""
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "push.tftest.hcl").write_text(
        """
mock_provider "google" {
  mock_resource "google_pubsub_topic" {
    defaults = { id = "projects/acme-test/topics/inquiries" }
  }
}
run "the_subscription_uses_the_topic_id" {
  command = apply
  assert {
    condition     = google_pubsub_subscription.push.topic == "projects/acme-test/topics/inquiries"
    error_message = "the subscription must use the topic's id"
  }
}
"""
    )
    env = terraform_environment(standin_mirror)
    for args in (["init", "-input=false"], ["test"]):
        done = subprocess.run(
            [terraform, *args, "-no-color"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed, 0 failed" in done.stdout


def test_it_never_applies(terraform: str, standin_mirror: Any, tmp_path: Path) -> None:
    (tmp_path / "main.tf.json").write_text(
        json.dumps(
            {
                "terraform": {
                    "required_providers": {
                        "google": {"source": "hashicorp/google", "version": "8.7.0"}
                    }
                },
                "resource": {"google_pubsub_topic": {"t": {"name": "t", "project": "p"}}},
            }
        )
    )
    env = terraform_environment(standin_mirror)
    run = [terraform, "-chdir=" + str(tmp_path)]
    subprocess.run([*run, "init", "-input=false"], env=env, capture_output=True, check=True)
    done = subprocess.run(
        [*run, "apply", "-auto-approve", "-no-color"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    said = " ".join(done.stderr.split())  # Terraform wraps its messages
    assert "Error: cannot apply" in said
    assert "only validates and plans; it never talks to Google" in said


# --- the plugin protocol, without Terraform -----------------------------------------------

TINY_SCHEMA: dict[str, Any] = {
    "provider": {
        "version": 0,
        "block": {"attributes": {"project": {"type": "string", "optional": True}}},
    },
    "resource_schemas": {
        "google_thing": {
            "version": 0,
            "block": {
                "attributes": {
                    "name": {"type": "string", "required": True},
                    "id": {"type": "string", "optional": True, "computed": True},
                    "etag": {"type": "string", "computed": True},
                    "secret_wo": {"type": "string", "optional": True, "write_only": True},
                    "labels": {"type": ["map", "string"], "optional": True},
                },
                "block_types": {
                    "rule": {
                        "nesting_mode": "list",
                        "block": {
                            "attributes": {
                                "priority": {"type": "number", "required": True},
                                "state": {"type": "string", "computed": True},
                            }
                        },
                    },
                    "empty": {"nesting_mode": "single", "block": {}},
                },
            },
        }
    },
    "data_source_schemas": {},
}


def test_a_plan_makes_unset_computed_attributes_unknown() -> None:
    pb = stubs.load()
    block = server.schema_response(TINY_SCHEMA, pb).resource_schemas["google_thing"].block
    proposed = {
        "name": "n",
        "id": None,
        "etag": None,
        "secret_wo": "s3cret",
        "labels": {"app": "agents"},
        "rule": [{"priority": 1, "state": None}],
        "empty": None,
    }
    planned = server.plan_block(block, proposed)
    assert planned["name"] == "n" and planned["labels"] == {"app": "agents"}
    assert server.is_unknown(planned["id"]) and server.is_unknown(planned["etag"])
    assert planned["secret_wo"] is None, "a write-only value is never planned"
    assert planned["rule"][0]["priority"] == 1 and server.is_unknown(planned["rule"][0]["state"])
    assert planned["empty"] is None
    # What comes back decodes as go-cty wrote it: unknown is msgpack extension 0.
    again = server.decode(server.encode(planned))
    assert again["id"] == msgpack.ExtType(0, b"\x00")
    assert server.plan_block(block, {**proposed, "id": "kept"})["id"] == "kept"


def test_state_from_json_is_shaped_by_the_schema() -> None:
    cty_type = ["object", {"a": "string", "b": ["list", ["object", {"c": "number"}]]}]
    value = {"a": "x", "b": [{"c": 1, "gone": 2}], "removed": True}
    assert server.conform(cty_type, value) == {"a": "x", "b": [{"c": 1}]}
    assert server.conform(cty_type, {}) == {"a": None, "b": None}


def test_recorded_state_is_upgraded_to_the_schema_and_apply_is_refused(tmp_path: Path) -> None:
    pb = stubs.load()
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(TINY_SCHEMA))
    standin = server.StandIn(pb, schema_file)
    state = {"name": "n", "id": "x", "rule": [{"priority": 2}], "dropped": True}
    upgraded = standin.UpgradeResourceState(
        pb.UpgradeResourceState.Request(
            type_name="google_thing", raw_state=pb.RawState(json=json.dumps(state).encode())
        )
    )
    assert list(upgraded.diagnostics) == []
    assert server.decode(upgraded.upgraded_state.msgpack) == {
        "name": "n",
        "id": "x",
        "etag": None,
        "secret_wo": None,
        "labels": None,
        "rule": [{"priority": 2, "state": None}],
        "empty": None,
    }
    unknown_type = standin.PlanResourceChange(pb.PlanResourceChange.Request(type_name="google_x"))
    assert unknown_type.diagnostics[0].summary == "unknown resource type google_x"
    applied = standin.ApplyResourceChange(pb.ApplyResourceChange.Request(type_name="google_thing"))
    assert applied.diagnostics[0].severity == pb.Diagnostic.ERROR
    assert "never talks to Google" in applied.diagnostics[0].detail


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(TINY_SCHEMA))
    return subprocess.Popen(
        [sys.executable, "-m", "infra.standin.server", "--schema", str(schema_file)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_process_refuses_to_run_outside_terraform(tmp_path: Path) -> None:
    process = _start(tmp_path, {server.MAGIC_COOKIE_KEY: ""})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and out == ""
    assert "not meant to be run by hand" in err


def test_the_go_plugin_handshake_over_mutual_tls_and_shutdown(tmp_path: Path) -> None:
    """What Terraform does: start it with the cookie and a client certificate, read the
    handshake line, verify the server's certificate, call the provider, then shut it down."""
    import grpc
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    client_pem, _key, _der = server._server_certificate()  # any certificate will do
    process = _start(
        tmp_path,
        {
            server.MAGIC_COOKIE_KEY: server.MAGIC_COOKIE_VALUE,
            "PLUGIN_PROTOCOL_VERSIONS": "5,6",
            "PLUGIN_CLIENT_CERT": client_pem.decode(),
        },
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        core, version, network, address, protocol, certificate = line.split("|")
        assert (core, version, network, protocol) == ("1", "5", "tcp", "grpc")
        der = base64.b64decode(certificate + "=" * (-len(certificate) % 4))
        cert = x509.load_der_x509_certificate(der)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == ["localhost"]
        credentials = grpc.ssl_channel_credentials(
            root_certificates=cert.public_bytes(serialization.Encoding.PEM)
        )
        pb = stubs.load()
        with grpc.secure_channel(
            address, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
        ) as channel:
            schema = channel.unary_unary(
                "/tfplugin5.Provider/GetSchema",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.GetProviderSchema.Response.FromString,
            )(pb.GetProviderSchema.Request(), timeout=30)
            assert set(schema.resource_schemas) == {"google_thing"}
            assert schema.server_capabilities.get_provider_schema_optional
            proposed = {"name": "n", "id": None, "etag": None, "secret_wo": None}
            proposed |= {"labels": None, "rule": [], "empty": None}
            plan = channel.unary_unary(
                "/tfplugin5.Provider/PlanResourceChange",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.PlanResourceChange.Response.FromString,
            )(
                pb.PlanResourceChange.Request(
                    type_name="google_thing",
                    proposed_new_state=pb.DynamicValue(msgpack=server.encode(proposed)),
                ),
                timeout=30,
            )
            planned = server.decode(plan.planned_state.msgpack)
            assert planned["name"] == "n" and server.is_unknown(planned["etag"])
            started = time.monotonic()
            channel.unary_unary(
                "/plugin.GRPCController/Shutdown",
                request_serializer=bytes,
                response_deserializer=bytes,
            )(b"", timeout=30)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5, "Shutdown ends the process at once"
    finally:
        process.kill()
        process.communicate()


# --- the derivation itself, on a small hand-written piece of bindings ---------------------

TINY_JS = """
function googleThingRuleToHclTerraform(struct) {
    const attrs = {
        priority: {
            value: cdktn.numberToHclTerraform(struct.priority),
            isBlock: false,
            type: "simple",
            storageClassType: "number",
        },
    };
}
class GoogleThingRuleOutputReference extends cdktn.ComplexObject {
    // priority - computed: false, optional: false, required: true
    _priority;
    get priority() {
        return this.getNumberAttribute('priority');
    }
    // state - computed: true, optional: false, required: false
    get state() {
        return this.getStringAttribute('state');
    }
}
class GoogleThingStatusOutputReference extends cdktn.ComplexObject {
    // code - computed: true, optional: false, required: false
    get code() {
        return this.getNumberAttribute('code');
    }
}
class GoogleThing extends cdktn.TerraformResource {
    constructor(scope, id, config) {
        super(scope, id, {
            terraformResourceType: 'google_thing',
            terraformGeneratorMetadata: { providerVersion: '8.7.0' },
        });
    }
    // members - computed: false, optional: true, required: false
    _members;
    get members() {
        return cdktn.Fn.tolist(this.getListAttribute('members'));
    }
    // token_wo - computed: false, optional: true, required: false
    _tokenWo;
    /**
    * @deprecated Write-only: the provider never returns this value.
    */
    get tokenWo() {
        return this.getStringAttribute('token_wo');
    }
    // status - computed: true, optional: false, required: false
    _status = new GoogleThingStatusList(this, "status", false);
    get status() {
        return this._status;
    }
    // rule - computed: false, optional: false, required: true
    _rule = new GoogleThingRuleOutputReference(this, "rule");
    get rule() {
        return this._rule;
    }
    synthesizeHclAttributes() {
        const attrs = {
            members: {
                value: cdktn.listMapperHcl(cdktn.stringToHclTerraform, false)(this._members),
                isBlock: false,
                type: "set",
                storageClassType: "stringList",
            },
            token_wo: {
                value: cdktn.stringToHclTerraform(this._tokenWo),
                isBlock: false,
                type: "simple",
                storageClassType: "string",
            },
            rule: {
                value: googleThingRuleToHclTerraform(this._rule.internalValue),
                isBlock: true,
                type: "list",
                storageClassType: "GoogleThingRuleList",
            },
        };
    }
}
class GoogleProvider extends cdktn.TerraformProvider {
    constructor(scope, id, config) {
        super(scope, id, { terraformResourceType: 'google' });
    }
    // project - computed: false, optional: true, required: false
    _project;
    get project() {
        return this._project;
    }
    // alias - computed: false, optional: true, required: false
    _alias;
    get alias() {
        return this._alias;
    }
    synthesizeHclAttributes() {
        const attrs = {
            project: {
                value: cdktn.stringToHclTerraform(this._project),
                isBlock: false,
                type: "simple",
                storageClassType: "string",
            },
            alias: {
                value: cdktn.stringToHclTerraform(this._alias),
                isBlock: false,
                type: "simple",
                storageClassType: "string",
            },
        };
    }
}
"""


def test_the_derivation_reads_getters_tables_and_nesting() -> None:
    derived = standin_schema.derive([("package/lib/thing/index.js", TINY_JS)])
    assert derived["provider_version"] == "8.7.0"
    assert derived["provider"]["block"]["attributes"] == {
        "project": {"type": "string", "optional": True}
    }
    thing = derived["resource_schemas"]["google_thing"]["block"]
    assert thing["attributes"] == {
        "members": {"type": ["set", "string"], "optional": True},
        "token_wo": {"type": "string", "optional": True, "write_only": True},
        "status": {"type": ["list", ["object", {"code": "number"}]], "computed": True},
    }
    assert thing["block_types"] == {
        "rule": {
            "nesting_mode": "list",
            "min_items": 1,
            "max_items": 1,
            "block": {
                "attributes": {
                    "priority": {"type": "number", "required": True},
                    "state": {"type": "string", "computed": True},
                },
                "block_types": {},
            },
        }
    }


def test_an_unexpected_shape_of_the_bindings_is_an_error() -> None:
    changed = TINY_JS.replace("this.getNumberAttribute('code')", "this.getFancyAttribute('code')")
    with pytest.raises(standin_schema.SchemaDerivationError, match="code: cannot tell its type"):
        standin_schema.derive([("package/lib/thing/index.js", changed)])


def test_the_schema_is_derived_once_per_bindings_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def derive(tgz: Path) -> dict[str, Any]:
        calls.append(tgz)
        return standin_schema.derive([("package/lib/thing/index.js", TINY_JS)])

    monkeypatch.setattr(standin_schema, "derive_from_package", derive)
    first = standin_schema.load_standin_schema(tmp_path)
    assert standin_schema.load_standin_schema(tmp_path) == first
    assert len(calls) == 1
    (cache,) = tmp_path.iterdir()
    assert cache.name == f"google-{first['bindings']}-terraform-v{standin_schema.FORMAT}.json"
