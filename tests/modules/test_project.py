"""ProjectServices: the APIs are enabled and a destroy never switches them off."""

from __future__ import annotations

import pytest

from infra.stack import PLATFORM_SERVICES
from tests.modules.conftest import PROJECT, resources

# The APIs the other layers rely on; dropping one from the stack's list breaks a layer.
REQUIRED_APIS = {
    "run.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "firestore.googleapis.com",
    "redis.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com",
    "compute.googleapis.com",
    "servicenetworking.googleapis.com",
    "monitoring.googleapis.com",
    "logging.googleapis.com",
    "cloudtrace.googleapis.com",
    "iam.googleapis.com",
    "aiplatform.googleapis.com",
    "cloudscheduler.googleapis.com",
    "identitytoolkit.googleapis.com",
    "securetoken.googleapis.com",
    "apikeys.googleapis.com",
}


@pytest.fixture(scope="module")
def built(synth):
    from cdktn_provider_google.pubsub_topic import PubsubTopic

    from modules.project import ProjectServices, ProjectServicesProps

    made = {}

    def build(stack):
        props = ProjectServicesProps(project_id=PROJECT, services=PLATFORM_SERVICES)
        made["apis"] = ProjectServices(stack, "apis", props)
        # What another module does with `depends_on_resources=[apis.ready]`.
        PubsubTopic(stack, "after-apis", name="after-apis", depends_on=[made["apis"].ready])

    tf = synth(build)
    return tf, made["apis"]


def test_every_default_api_is_enabled_once_in_the_project(built):
    tf, _ = built
    services = list(resources(tf, "google_project_service").values())
    enabled = [s["service"] for s in services]
    assert sorted(enabled) == sorted(PLATFORM_SERVICES)
    assert REQUIRED_APIS - set(enabled) == set()
    assert {s["project"] for s in services} == {PROJECT}


def test_no_api_is_disabled_on_destroy(built):
    tf, _ = built
    for name, service in resources(tf, "google_project_service").items():
        assert service["disable_on_destroy"] is False, name
        assert service["disable_dependent_services"] is False, name


def test_attributes_expose_each_service_for_depends_on(built):
    _, apis = built
    assert set(apis.services) == set(PLATFORM_SERVICES)
    assert apis.resources == list(apis.services.values())


def test_ready_is_one_gate_that_exists_once_every_api_is_enabled(built):
    tf, _ = built
    services = resources(tf, "google_project_service")
    gates = resources(tf, "terraform_data")
    assert len(gates) == 1
    ((gate_name, gate),) = gates.items()
    # Terraform's built-in terraform_data: no provider, stores nothing, only orders.
    assert set(gate) == {"//", "depends_on"}
    assert sorted(gate["depends_on"]) == sorted(f"google_project_service.{n}" for n in services)
    assert all("depends_on" not in service for service in services.values())
    # A resource depending on the gate names it alone, not each API.
    (waiting,) = resources(tf, "google_pubsub_topic").values()
    assert waiting["depends_on"] == [f"terraform_data.{gate_name}"]


@pytest.mark.parametrize(
    ("kwargs", "field", "bad"),
    [
        (
            {"project_id": "Bad_Project", "services": ["run.googleapis.com"]},
            "project_id",
            "Bad_Project",
        ),
        ({"project_id": PROJECT, "services": ["run"]}, "services", "run"),
        ({"project_id": PROJECT, "services": []}, "services", "[]"),
        (
            {"project_id": PROJECT, "services": ["run.googleapis.com", "run.googleapis.com"]},
            "services",
            "run.googleapis.com",
        ),
    ],
)
def test_bad_props_name_the_field(kwargs, field, bad):
    from modules.project import ProjectServicesProps

    with pytest.raises(ValueError, match=rf"^ProjectServicesProps\.{field}: ") as error:
        ProjectServicesProps(**kwargs)
    assert bad in str(error.value)
