"""Enable the Google Cloud APIs the platform needs, once per project.

Why: every other layer fails on a fresh project until its API is on, and a `terraform destroy`
must never switch an API off under other workloads that share the project. So each API gets
its own `google_project_service` with `disable_on_destroy=False` and
`disable_dependent_services=False`. The services themselves depend on nothing.

Other layers wait for the APIs through one gate, `ProjectServices.ready`: a `terraform_data`
resource (Terraform's built-in provider: nothing to configure or download; Terraform >= 1.4)
that depends on every service. Pass `[apis.ready]` as each other module's `depends_on_resources`:
Terraform creates every API, then the gate, then what waits for it, and destroys in the
reverse order, exactly as if each resource named all the APIs. One entry instead of one per API
also keeps the synth fast, since cdktn resolves each `depends_on` entry of each resource.

Creates: one `google_project_service` per entry of `ProjectServicesProps.services`
(`DEFAULT_SERVICES` unless given), and the `terraform_data` gate that depends on all of them.

Example::

    apis = ProjectServices(stack, "apis", ProjectServicesProps(project_id="acme-agents-dev"))
    run_api = apis.services["run.googleapis.com"]
    after_apis = [apis.ready]  # any module's depends_on_resources

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts: {google_project_service: 19, terraform_data: 1, resources: 20}
    values:
      google_project_service.apis_run-googleapis-com:
        {service: run.googleapis.com, disable_on_destroy: false}
      google_project_service.apis_identitytoolkit-googleapis-com:
        {service: identitytoolkit.googleapis.com, disable_on_destroy: false}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cdktn import TerraformResource
from cdktn_provider_google.project_service import ProjectService
from constructs import Construct

DEFAULT_SERVICES: tuple[str, ...] = (
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
    # Scheduled calls to the worker (housekeeping), a cron that survives scale to zero.
    "cloudscheduler.googleapis.com",
    # Terraform manages project IAM bindings through the Resource Manager API.
    "cloudresourcemanager.googleapis.com",
    # Identity Platform: the end users' accounts and the ID tokens they sign in with; the
    # Secure Token API refreshes those tokens in the browser, with an API key (API Keys API).
    "identitytoolkit.googleapis.com",
    "securetoken.googleapis.com",
    "apikeys.googleapis.com",
)

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_SERVICE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*\.googleapis\.com$")


@dataclass(frozen=True, kw_only=True)
class ProjectServicesProps:
    """The project and the APIs to enable in it."""

    project_id: str
    services: Sequence[str] = DEFAULT_SERVICES

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not isinstance(self.project_id, str) or not _PROJECT_ID.match(self.project_id):
            raise ValueError(
                f"{name}.project_id: must be 6-30 lowercase letters, digits or hyphens, starting"
                f" with a letter, got {self.project_id!r}"
            )
        if isinstance(self.services, str) or not self.services:
            raise ValueError(
                f"{name}.services: must be a non-empty list of API names, got {self.services!r}"
            )
        for service in self.services:
            if not isinstance(service, str) or not _SERVICE.match(service):
                raise ValueError(
                    f"{name}.services: each entry must be an API name like"
                    f" 'run.googleapis.com', got {service!r}"
                )
        duplicates = sorted({s for s in self.services if list(self.services).count(s) > 1})
        if duplicates:
            raise ValueError(f"{name}.services: each API may appear once, got {duplicates}")


class ProjectServices(Construct):
    """The enabled APIs of one project.

    Attributes:
        services: the `ProjectService` resource of each API, by API name.
        resources: every `ProjectService`, in the order of `ProjectServicesProps.services`.
        ready: the `terraform_data` gate: one resource that exists once every API is enabled;
            depend on it instead of on each API (other modules'
            `depends_on_resources=[apis.ready]`).
    """

    def __init__(self, scope: Construct, id: str, props: ProjectServicesProps) -> None:
        super().__init__(scope, id)
        self.services: dict[str, ProjectService] = {}
        for service in props.services:
            self.services[service] = ProjectService(
                self,
                service.replace(".", "-"),
                project=props.project_id,
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
            )
        self.resources: list[ProjectService] = list(self.services.values())
        # A plain `TerraformResource` of type `terraform_data`, not cdktn's `DataResource`: the
        # JSON is the same, but `DataResource` checks at synth time by running `terraform
        # version`, so every synth would need the Terraform binary on PATH.
        self.ready = TerraformResource(
            self, "ready", terraform_resource_type="terraform_data", depends_on=self.resources
        )
