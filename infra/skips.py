"""Checkov skips written on the resource they concern, with their reason.

Why next to the resource: a reader of `cdk.tf.json` (or of this code) sees at once which check
does not apply to which resource and why; `infra.checkov_gate` honours only these skips.
"""

from __future__ import annotations

from cdktn import TerraformResource

from infra.checkov_gate import SKIP_PREFIX


def skip_check(resource: TerraformResource, check_id: str, reason: str) -> None:
    """Record `"//": {"checkov:skip=<check_id>": reason}` on the resource."""
    if not reason.strip():
        raise ValueError(f"skip of {check_id}: a reason is required")
    resource.add_override(f"//.{SKIP_PREFIX}{check_id}", reason)
