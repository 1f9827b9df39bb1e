"""Make every resource wait for the project's APIs, so a first apply on a fresh project works.

Why an aspect: on a new project each API must be enabled before its first resource is created,
and Terraform only orders what it knows depends on what. Modules stay reusable without knowing
about `ProjectServices`; this aspect adds the `depends_on` after the whole tree is built, to
every resource except the `google_project_service` ones themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsii
from cdktn import IAspect, TerraformResource
from constructs import IConstruct

PROJECT_SERVICE_TYPE = "google_project_service"


@jsii.implements(IAspect)
class DependOnProjectServices:
    """Adds `depends_on` every enabled API to each resource it visits (idempotent)."""

    def __init__(self, services: Sequence[TerraformResource]) -> None:
        self._fqns = [service.fqn for service in services]

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, TerraformResource):
            return
        if node.terraform_resource_type == PROJECT_SERVICE_TYPE:
            return
        existing: list[Any] = list(node.depends_on or [])
        missing = [fqn for fqn in self._fqns if fqn not in existing]
        if missing:
            node.depends_on = [*existing, *missing]
