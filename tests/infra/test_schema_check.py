"""The offline schema check: derived from the bindings, passes our stacks, catches broken ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import provider_schema
from infra.schema_check import check_stack
from tests.infra.conftest import ENV_NAMES, REPO


def test_schema_records_names_requiredness_nesting_and_enums(provider_schema: dict) -> None:
    subscription = provider_schema["resources"]["google_pubsub_subscription"]
    assert subscription["attributes"]["name"]["required"] is True
    assert subscription["attributes"]["topic"]["required"] is True
    assert subscription["attributes"]["ack_deadline_seconds"]["required"] is False
    push = subscription["blocks"]["push_config"]
    assert push["list"] is False and push["block"]["attributes"]["push_endpoint"]["required"]
    assert "service_account_email" in push["block"]["blocks"]["oidc_token"]["block"]["attributes"]

    run = provider_schema["resources"]["google_cloud_run_v2_service"]
    assert set(run["attributes"]["ingress"]["enum"]) == {
        "INGRESS_TRAFFIC_ALL",
        "INGRESS_TRAFFIC_INTERNAL_ONLY",
        "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    }
    assert run["blocks"]["template"]["block"]["blocks"]["containers"]["list"] is True
    assert "project_id" in provider_schema["data"]["google_project"]["attributes"]
    assert "project" in provider_schema["provider"]["attributes"]


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_every_synthesized_environment_matches_the_provider_schema(
    env_name: str, synthesized: Any, provider_schema: dict
) -> None:
    assert check_stack(synthesized.stacks[env_name], provider_schema) == []


@pytest.fixture(scope="module")
def broken_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real stack, synthesized by cdktn, with the mistakes the check must catch."""
    from cdktn import App, TerraformResource, TerraformStack
    from cdktn_provider_google.cloud_run_v2_service import (
        CloudRunV2Service,
        CloudRunV2ServiceTemplate,
        CloudRunV2ServiceTemplateContainers,
    )
    from cdktn_provider_google.provider import GoogleProvider
    from cdktn_provider_google.pubsub_subscription import PubsubSubscription

    outdir = tmp_path_factory.mktemp("broken") / "cdktf.out"
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "broken")
    GoogleProvider(stack, "google", project="acme-agents-dev")
    subscription = PubsubSubscription(stack, "sub", name="s", topic="t")
    subscription.add_override("ack_deadline_secs", 10)  # misspelled
    subscription.add_override("topic", None)  # required, removed
    subscription.add_override("push_config", "https://worker/push")  # a block as a value
    service = CloudRunV2Service(
        stack,
        "svc",
        name="api",
        location="europe-west1",
        template=CloudRunV2ServiceTemplate(
            containers=[CloudRunV2ServiceTemplateContainers(image="hello")]
        ),
    )
    service.add_override("ingress", "INGRESS_TRAFFIC_EVERYWHERE")  # not an allowed value
    service.add_override("template.containers.0.resourcez", {"limits": {"cpu": "1"}})
    service.add_override("description", "${var.fine}")  # expressions are not judged
    TerraformResource(stack, "bare", terraform_resource_type="google_pubsub_topic")
    TerraformResource(stack, "made-up", terraform_resource_type="google_pubsub_topik")
    app.synth()
    return outdir


def test_a_broken_stack_fails_with_each_mistake_named(
    broken_out: Path, provider_schema: dict
) -> None:
    tf = json.loads((broken_out / "stacks" / "broken" / "cdk.tf.json").read_text())
    errors = check_stack(tf, provider_schema)
    expected = [
        "google_pubsub_subscription.sub.ack_deadline_secs: unknown attribute"
        " (did you mean ack_deadline_seconds?)",
        "google_pubsub_subscription.sub: missing required attribute 'topic'",
        'google_pubsub_subscription.sub.push_config: must be a block (an object), got "https://worker/push"',
        "google_cloud_run_v2_service.svc.ingress: 'INGRESS_TRAFFIC_EVERYWHERE' is not one of"
        " INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY,"
        " INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        "google_cloud_run_v2_service.svc.template.containers[0].resourcez: unknown attribute"
        " (did you mean resources?)",
        "google_pubsub_topic.bare: missing required attribute 'name'",
        "google_pubsub_topik.made-up: unknown resource type 'google_pubsub_topik'",
    ]
    assert sorted(errors) == sorted(expected)


def test_single_blocks_written_as_lists_and_values_in_the_wrong_shape(
    provider_schema: dict,
) -> None:
    tf = {
        "resource": {
            "google_pubsub_subscription": {
                "s": {
                    "name": "s",
                    "topic": "t",
                    "retry_policy": [{"minimum_backoff": "1s"}, {"minimum_backoff": "2s"}],
                    "labels": "app=agents",
                    "ack_deadline_seconds": {"seconds": 10},
                    "lifecycle": {"prevent_destroy": True},
                }
            }
        }
    }
    assert sorted(check_stack(tf, provider_schema)) == [
        "google_pubsub_subscription.s.ack_deadline_seconds: must be a single value,"
        ' got {"seconds": 10}',
        'google_pubsub_subscription.s.labels: must be a map, got "app=agents"',
        "google_pubsub_subscription.s.retry_policy: takes a single block, got a list of 2",
    ]


def test_depends_on_takes_bare_references_to_what_the_stack_declares(
    provider_schema: dict,
) -> None:
    tf = {
        "resource": {
            "google_project_service": {"pubsub": {"service": "pubsub.googleapis.com"}},
            "google_pubsub_topic": {
                "t": {
                    "name": "t",
                    "depends_on": [
                        "google_project_service.pubsub",
                        "${google_project_service.pubsub}",
                        "google_project_service.run",
                        {"ref": "x"},
                    ],
                },
                "u": {"name": "u", "depends_on": "google_project_service.pubsub"},
            },
        }
    }
    assert check_stack(tf, provider_schema) == [
        'google_pubsub_topic.t.depends_on: "${google_project_service.pubsub}" is not a reference;'
        " Terraform takes a bare address such as google_project_service.run, without ${...}",
        "google_pubsub_topic.t.depends_on: google_project_service.run is not declared in this"
        " stack",
        'google_pubsub_topic.t.depends_on: {"ref": "x"} is not a reference; Terraform takes a'
        " bare address such as google_project_service.run, without ${...}",
        "google_pubsub_topic.u.depends_on: must be a list of references, got"
        ' "google_project_service.pubsub"',
    ]


def test_terraform_data_is_checked_against_its_own_arguments(
    tmp_path: Path, provider_schema: dict
) -> None:
    """Terraform's built-in `terraform_data` (the stacks' API gate) is known, not in the Google
    schema, and held to its documented arguments like any other resource. The arguments come
    from cdktn's own `DataResource` (its synth-time `terraform version` probe skipped)."""
    from cdktn import App, DataResource, TerraformStack
    from cdktn_provider_google.project_service import ProjectService
    from cdktn_provider_google.provider import GoogleProvider

    assert "terraform_data" not in provider_schema["resources"]
    app = App(outdir=str(tmp_path / "cdktf.out"), skip_validation=True)
    stack = TerraformStack(app, "builtin")
    GoogleProvider(stack, "google", project="acme-agents-dev")
    api = ProjectService(stack, "pubsub", service="pubsub.googleapis.com")
    DataResource(
        stack,
        "ready",
        input={"apis": ["pubsub.googleapis.com"]},
        triggers_replace={"revision": "1"},
        depends_on=[api],
    )
    typo = DataResource(stack, "typo", depends_on=[api])
    typo.add_override("triggers_replaced", "1")
    typo.add_override("depends_on", ["google_project_service.pubsub", "terraform_data.nope"])
    app.synth()
    tf = json.loads((tmp_path / "cdktf.out" / "stacks" / "builtin" / "cdk.tf.json").read_text())
    assert set(tf["resource"]["terraform_data"]["ready"]) >= {"input", "triggers_replace"}
    assert check_stack(tf, provider_schema) == [
        "terraform_data.typo.depends_on: terraform_data.nope is not declared in this stack",
        "terraform_data.typo.triggers_replaced: unknown attribute (did you mean triggers_replace?)",
    ]


def test_provisioners_are_checked_against_terraform_s_own_arguments(
    provider_schema: dict,
) -> None:
    """A resource's `provisioner` entries are Terraform's, not the provider's: the described
    ones are held to their arguments, any other type is named."""
    good = {"command": "echo ok", "environment": {"A": "1"}, "interpreter": ["/bin/sh", "-c"]}
    tf = {
        "resource": {
            "terraform_data": {
                "good": {"provisioner": [{"local-exec": good}]},
                "bad": {
                    "provisioner": [
                        {"local-exec": {"enviroment": {"A": "1"}, "when": "later"}},
                        {"local_exec": {"command": "echo"}},
                        {"local-exec": {"command": "echo", "on_failure": "ignore"}},
                        "echo",
                    ]
                },
            }
        }
    }
    where = "terraform_data.bad.provisioner"
    assert sorted(check_stack(tf, provider_schema)) == [
        f"{where}[0].local-exec.enviroment: unknown attribute (did you mean environment?)",
        f"{where}[0].local-exec.when: 'later' is not one of create, destroy",
        f"{where}[0].local-exec: missing required attribute 'command'",
        f"{where}[1]: unknown provisioner 'local_exec' (described here: local-exec)",
        f"{where}[2].local-exec.on_failure: 'ignore' is not one of continue, fail",
        f'{where}[3]: must be an object {{type: arguments}}, got "echo"',
    ]


def test_the_command_fails_on_a_broken_stack_and_passes_on_good_ones(
    broken_out: Path, synthesized: Any
) -> None:
    command = [sys.executable, "-m", "infra", "validate"]
    bad = subprocess.run(
        [*command, "--out", str(broken_out), "--env", "broken"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "ack_deadline_secs: unknown attribute" in bad.stderr
    assert "7 error(s)" in bad.stdout
    assert "terraform" not in bad.stdout, "a stack the schema check refuses is not planned"
    good_out = synthesized.files["dev"].parents[2]
    good = subprocess.run(
        [*command, "--out", str(good_out), "--schema-only"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert "3 stack(s): ok" in good.stdout  # Terraform's part: tests/infra/test_terraform_plan.py


TINY_ASSEMBLY: dict[str, Any] = {
    "version": "0.0.1",
    "types": {
        "p.thing.Thing": {
            "kind": "class",
            "base": "cdktn.TerraformResource",
            "docs": {
                "summary": "Represents a {@link https://x/docs/resources/thing google_thing}."
            },
            "initializer": {
                "parameters": [{"name": "config", "type": {"fqn": "p.thing.ThingConfig"}}]
            },
        },
        "p.thing.ThingConfig": {
            "kind": "interface",
            "datatype": True,
            "interfaces": ["cdktn.TerraformMetaArguments"],
            "properties": [
                {
                    "name": "displayName",
                    "type": {"primitive": "string"},
                    "docs": {
                        "remarks": "{@link https://x/docs/resources/thing#display_name"
                        " Thing#display_name}"
                    },
                },
                {
                    "name": "mode",
                    "optional": True,
                    "type": {"primitive": "string"},
                    "docs": {"summary": 'Mode. Possible values: ["FAST", "SAFE"]'},
                },
                {
                    "name": "rules",
                    "optional": True,
                    "type": {
                        "union": {
                            "types": [
                                {"fqn": "cdktn.IResolvable"},
                                {
                                    "collection": {
                                        "kind": "array",
                                        "elementtype": {"fqn": "p.thing.ThingRules"},
                                    }
                                },
                            ]
                        }
                    },
                },
            ],
        },
        "p.thing.ThingRules": {
            "kind": "interface",
            "datatype": True,
            "properties": [{"name": "priority", "type": {"primitive": "number"}}],
        },
    },
}


def test_derivation_and_its_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []

    def read(path: Path) -> dict[str, Any]:
        reads.append(path)
        return TINY_ASSEMBLY

    monkeypatch.setattr(provider_schema, "_read_assembly", read)
    first = provider_schema.load_schema(tmp_path)
    second = provider_schema.load_schema(tmp_path)
    assert len(reads) == 1, "the second load comes from the cache"
    assert first == second
    thing = first["resources"]["google_thing"]
    assert thing["attributes"]["display_name"] == {"required": True, "kind": "scalar", "enum": None}
    assert thing["attributes"]["mode"]["enum"] == ["FAST", "SAFE"]
    rules = thing["blocks"]["rules"]
    assert rules["list"] is True and rules["block"]["attributes"]["priority"]["required"]
    (cache,) = tmp_path.iterdir()
    assert provider_schema.metadata.version(provider_schema.PACKAGE) in cache.name
