"""Make every resource wait for the project's APIs, so a first apply on a fresh project works.

Why: on a new project each API must be enabled before its first resource is created, and
Terraform only orders what it knows depends on what. Modules stay reusable without knowing
about `ProjectServices`; the stack calls `depend_on_project_services` once its whole tree is
built, adding the `depends_on` to every resource except the `google_project_service` ones.

Why not a cdktn aspect: Node.js calls an aspect back for every construct at synth, then each
property it reads or writes is one more jsii round trip; one walk from Python over the finished
tree touches resources only and needs under half the round trips.

Each entry is the API's plain Terraform address (`google_project_service.<name>`). Terraform's
JSON syntax reads `depends_on` entries as bare references and refuses an interpolation such as
`${google_project_service.<name>}`, which is what a resource's `fqn` token resolves to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdktn import TerraformResource
from cdktn_provider_google.project_service import ProjectService
from constructs import IConstruct


def depend_on_project_services(scope: IConstruct, services: Sequence[TerraformResource]) -> None:
    """Make each resource under `scope` depend on every API in `services` (idempotent).

    Call it after the last resource is added: later resources are not covered.
    """
    kind = ProjectService.TF_RESOURCE_TYPE
    addresses = [f"{kind}.{service.friendly_unique_id}" for service in services]
    for node in scope.node.find_all():
        # The isinstance checks are answered in Python; each property access is a round trip.
        if not isinstance(node, TerraformResource) or isinstance(node, ProjectService):
            continue
        existing: list[Any] = list(node.depends_on or [])
        missing = [address for address in addresses if address not in existing]
        if missing:
            node.depends_on = [*existing, *missing]
