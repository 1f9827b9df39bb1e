"""Edge layer: a global external HTTPS load balancer with Cloud Armor in front of Cloud Run.

Why: the API gateway of an environment. One static IP and a Google-managed certificate for
the configured domains; Cloud Armor drops known attack patterns (preconfigured OWASP WAF
rules and the Log4j lookup), then throttles and bans clients over a per-IP request rate.
Port 80 only redirects to 443. Pair it with the service's ingress
`internal-and-cloud-load-balancing` so the load balancer is the only way in.

Creates: a global address, a serverless NEG for the service, a Cloud Armor security
policy, an EXTERNAL_MANAGED backend service (logged), a URL map, a managed certificate, an
SSL policy (TLS 1.2+), the HTTPS proxy and the 443 forwarding rule; plus a redirect URL map,
HTTP proxy and forwarding rule on 80.

Example::

    Edge(stack, "edge", EdgeProps(
        project_id="acme-shop-prod", region="europe-west1", name_prefix="shop-prod",
        cloud_run_service_name="shop-web", domains=["shop.example.com"],
        labels={"app": "shop", "env": "prod"},
        armor=ArmorPolicy(rate_limit_requests_per_minute=1200)))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_compute_backend_service: 1
      google_compute_global_address: 1
      google_compute_global_forwarding_rule: 2
      google_compute_managed_ssl_certificate: 1
      google_compute_region_network_endpoint_group: 1
      google_compute_security_policy: 1
      google_compute_ssl_policy: 1
      google_compute_target_http_proxy: 1
      google_compute_target_https_proxy: 1
      google_compute_url_map: 2
      resources: 12
    values:
      google_compute_backend_service.edge_backend:
        {load_balancing_scheme: EXTERNAL_MANAGED, protocol: HTTPS, log_config: [{enable: true}]}
      google_compute_global_forwarding_rule.edge_https-forwarding-rule: {port_range: "443"}
      google_compute_managed_ssl_certificate.edge_certificate:
        managed: [{domains: [shop.example.com]}]
      google_compute_region_network_endpoint_group.edge_neg:
        {network_endpoint_type: SERVERLESS, cloud_run: [{service: shop-web}]}
      google_compute_ssl_policy.edge_ssl-policy: {min_tls_version: TLS_1_2, profile: MODERN}
      google_compute_url_map.edge_http-redirect:
        default_url_redirect: [{https_redirect: true}]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from cdktn import TerraformResourceLifecycle, Token
from cdktn_provider_google.compute_backend_service import (
    ComputeBackendService,
    ComputeBackendServiceBackend,
    ComputeBackendServiceLogConfig,
)
from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
from cdktn_provider_google.compute_global_forwarding_rule import ComputeGlobalForwardingRule
from cdktn_provider_google.compute_managed_ssl_certificate import (
    ComputeManagedSslCertificate,
    ComputeManagedSslCertificateManaged,
)
from cdktn_provider_google.compute_region_network_endpoint_group import (
    ComputeRegionNetworkEndpointGroup,
    ComputeRegionNetworkEndpointGroupCloudRun,
)
from cdktn_provider_google.compute_security_policy import (
    ComputeSecurityPolicy,
    ComputeSecurityPolicyAdvancedOptionsConfig,
    ComputeSecurityPolicyRule,
    ComputeSecurityPolicyRuleMatch,
    ComputeSecurityPolicyRuleMatchConfig,
    ComputeSecurityPolicyRuleMatchExpr,
    ComputeSecurityPolicyRuleRateLimitOptions,
    ComputeSecurityPolicyRuleRateLimitOptionsRateLimitThreshold,
)
from cdktn_provider_google.compute_ssl_policy import ComputeSslPolicy
from cdktn_provider_google.compute_target_http_proxy import ComputeTargetHttpProxy
from cdktn_provider_google.compute_target_https_proxy import ComputeTargetHttpsProxy
from cdktn_provider_google.compute_url_map import ComputeUrlMap, ComputeUrlMapDefaultUrlRedirect
from constructs import Construct

DEFAULT_WAF_RULES = (
    "sqli-v33-stable",
    "xss-v33-stable",
    "lfi-v33-stable",
    "rce-v33-stable",
    "rfi-v33-stable",
    "scannerdetection-v33-stable",
    "protocolattack-v33-stable",
    "sessionfixation-v33-stable",
)
LOG4J_EXPRESSION = "evaluatePreconfiguredExpr('cve-canary')"
DEFAULT_RULE_PRIORITY = 2147483647
# Deny rules come first: a rate-based rule *allows* conforming traffic, which ends evaluation,
# so anything below it would never run.
LOG4J_PRIORITY, WAF_FIRST_PRIORITY, RATE_LIMIT_PRIORITY = 900, 1000, 2000
# The per-client rate limit (requests a minute) and ban this module accepts.
RATE_LIMIT_PER_MINUTE = (1, 1_000_000)
BAN_SECONDS = (1, 86400)

_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")
_SERVICE = re.compile(r"[a-z]([-a-z0-9]{0,47}[a-z0-9])?")
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_WAF_RULE = re.compile(r"[a-z0-9]+(-v[0-9]+)?-(stable|canary)")

# --- shared helpers: begin ---
# The same block, byte for byte, in every module (tests/modules/test_shared_helpers.py): each
# module is copied alone into other repos, so it cannot import them from a sibling. Change one
# copy, then paste it over the others.

# Project ids: 6-30 lowercase letters, digits or hyphens, starting with a letter.
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_MEMBER = re.compile(r"(serviceAccount|user|group|domain|principal|principalSet):\S+")
_ROLE = re.compile(r"roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+")
# Anyone at all: never granted through a list of members (a module says so by a flag).
_PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: object) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if not isinstance(value, str) or "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _fail(owner: str, name: str, allowed: str, got: object) -> NoReturn:
    """Refuse a value, naming where it is and what is allowed: `Props.field: ..., got ...`."""
    raise ValueError(f"{owner}.{name}: {allowed}, got {got!r}")


def _check(owner: str, name: str, ok: bool, allowed: str, got: object) -> None:
    if not ok:
        _fail(owner, name, allowed, got)


def _matches(pattern: re.Pattern[str], value: object, tokens: bool = False) -> bool:
    """`value` is a string that `pattern` matches whole: `re.fullmatch`, since `^...$` with
    `match` also takes a trailing newline. With `tokens`, a Terraform reference passes too."""
    if not isinstance(value, str):
        return False
    return (tokens and _unresolved(value)) or pattern.fullmatch(value) is not None


def _check_match(
    owner: str, name: str, pattern: re.Pattern[str], value: object, allowed: str, tokens: bool
) -> None:
    """`tokens`: whether a value known only at apply time (a reference) may stand for one."""
    _check(owner, name, _matches(pattern, value, tokens), allowed, value)


def _check_project_id(owner: str, value: object) -> None:
    allowed = "must be a project id: 6-30 of [a-z0-9-], starting with a letter"
    _check_match(owner, "project_id", _PROJECT_ID, value, allowed, tokens=True)


def _check_int(owner: str, name: str, value: object, bounds: tuple[int, int]) -> None:
    low, high = bounds
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    _check(owner, name, ok, f"must be an integer between {low} and {high}", value)


def _check_bool(owner: str, name: str, value: object) -> None:
    _check(owner, name, isinstance(value, bool), "must be true or false", value)


def _is_list(value: object) -> bool:
    """A list or tuple: a bare string is a mistake, not a list of one-letter items."""
    return isinstance(value, Sequence) and not isinstance(value, str)


def _check_labels(owner: str, labels: object) -> dict[str, str]:
    """Labels every labelled resource carries: `app` and `env` at least, in Google's syntax."""
    ok = isinstance(labels, Mapping) and {"app", "env"} <= set(labels)
    _check(owner, "labels", ok, "must be a mapping that includes 'app' and 'env'", labels)
    assert isinstance(labels, Mapping)
    for key, value in labels.items():
        allowed = "keys must be 1-63 of [a-z0-9_-], starting with a letter"
        _check(owner, "labels", _matches(_LABEL_KEY, key), allowed, f"{key}={value}")
        allowed = "values must be 0-63 of [a-z0-9_-]"
        _check(owner, "labels", _matches(_LABEL_VALUE, value), allowed, f"{key}={value}")
    return dict(labels)


def _check_members(owner: str, name: str, members: object) -> tuple[str, ...]:
    """IAM members such as 'serviceAccount:<email>', or references to them; never everyone."""
    _check(owner, name, _is_list(members), "must be a list of IAM members", members)
    assert isinstance(members, Sequence)
    for member in members:
        allowed = "each entry must be an IAM member like 'serviceAccount:<email>' (never allUsers)"
        ok = member not in _PUBLIC_MEMBERS and _matches(_MEMBER, member, tokens=True)
        _check(owner, name, ok, allowed, member)
    _check(owner, name, len(set(members)) == len(members), "must not repeat a member", members)
    return tuple(members)


def _check_iam(owner: str, iam: object) -> dict[str, tuple[str, ...]]:
    """Grants on a module's resource: role -> members, e.g. {'roles/x.y': ['group:g@e.com']}."""
    _check(owner, "iam", isinstance(iam, Mapping), "must map roles to lists of members", iam)
    assert isinstance(iam, Mapping)
    grants: dict[str, tuple[str, ...]] = {}
    for role, members in iam.items():
        allowed = "roles must look like 'roles/service.role' or a custom role's name"
        _check(owner, "iam", _matches(_ROLE, role), allowed, role)
        grants[role] = _check_members(owner, f"iam[{role}]", members)
    return grants


# --- shared helpers: end ---


@dataclass(frozen=True, kw_only=True)
class ArmorPolicy:
    """What Cloud Armor drops: the preconfigured WAF rule sets (at `waf_sensitivity`, 1 the
    fewest false positives), Log4j lookups, and clients over `rate_limit_requests_per_minute`
    (each banned for `rate_limit_ban_seconds`)."""

    rate_limit_requests_per_minute: int = 600
    rate_limit_ban_seconds: int = 300
    waf_rules: Sequence[str] = DEFAULT_WAF_RULES
    waf_sensitivity: int = 1
    block_log4j_lookups: bool = True

    def __post_init__(self) -> None:
        owner = type(self).__name__
        rate = self.rate_limit_requests_per_minute
        _check_int(owner, "rate_limit_requests_per_minute", rate, RATE_LIMIT_PER_MINUTE)
        _check_int(owner, "rate_limit_ban_seconds", self.rate_limit_ban_seconds, BAN_SECONDS)
        rules = self.waf_rules
        ok = _is_list(rules) and len(set(rules)) == len(rules)
        _check(owner, "waf_rules", ok, "must be a list of distinct rule set names", rules)
        for rule in rules:
            allowed = "each must look like 'sqli-v33-stable'"
            _check_match(owner, "waf_rules", _WAF_RULE, rule, allowed, tokens=True)
        ok = self.waf_sensitivity in (1, 2, 3, 4) and not isinstance(self.waf_sensitivity, bool)
        _check(owner, "waf_sensitivity", ok, "must be 1, 2, 3 or 4", self.waf_sensitivity)
        _check_bool(owner, "block_log4j_lookups", self.block_log4j_lookups)


@dataclass(frozen=True, kw_only=True)
class EdgeProps:
    """The load balancer in front of one Cloud Run service; `name_prefix` starts every
    resource's name, and `armor` says what Cloud Armor drops."""

    project_id: str
    region: str
    name_prefix: str
    cloud_run_service_name: str
    domains: Sequence[str]
    labels: Mapping[str, str]
    armor: ArmorPolicy = field(default_factory=ArmorPolicy)
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        allowed = "must be a region like 'europe-west1'"
        _check_match(owner, "region", _REGION, self.region, allowed, tokens=True)
        allowed = "must match [a-z]([-a-z0-9]{0,38}[a-z0-9])?"
        _check_match(owner, "name_prefix", _NAME, self.name_prefix, allowed, tokens=True)
        allowed = "must be a Cloud Run service name"
        service = self.cloud_run_service_name
        _check_match(owner, "cloud_run_service_name", _SERVICE, service, allowed, tokens=True)
        domains = self.domains
        ok = _is_list(domains) and 1 <= len(domains) <= 100
        _check(owner, "domains", ok, "must be a list of 1 to 100 domain names", domains)
        for domain in domains:
            allowed = "each must be a lowercase fully qualified domain name without wildcard"
            _check_match(owner, "domains", _DOMAIN, domain, allowed, tokens=True)
        ok = len(set(domains)) == len(domains)
        _check(owner, "domains", ok, "must not repeat a domain", list(domains))
        _check_labels(owner, self.labels)
        _check(
            owner,
            "armor",
            isinstance(self.armor, ArmorPolicy),
            "must be an ArmorPolicy",
            self.armor,
        )


def waf_expression(rule_set: str, sensitivity: int) -> str:
    """The Cloud Armor expression that evaluates one preconfigured WAF rule set."""
    return f"evaluatePreconfiguredWaf('{rule_set}', {{'sensitivity': {sensitivity}}})"


def _expr_rule(priority: int, expression: str, description: str) -> ComputeSecurityPolicyRule:
    return ComputeSecurityPolicyRule(
        priority=priority,
        action="deny(403)",
        description=description,
        preview=False,
        match=ComputeSecurityPolicyRuleMatch(
            expr=ComputeSecurityPolicyRuleMatchExpr(expression=expression)
        ),
    )


def _all_ips() -> ComputeSecurityPolicyRuleMatch:
    return ComputeSecurityPolicyRuleMatch(
        versioned_expr="SRC_IPS_V1",
        config=ComputeSecurityPolicyRuleMatchConfig(src_ip_ranges=["*"]),
    )


def security_rules(armor: ArmorPolicy) -> list[ComputeSecurityPolicyRule]:
    """Log4j and WAF denies, then the per-IP rate-based ban, then the default allow."""
    rules = []
    if armor.block_log4j_lookups:
        rules.append(_expr_rule(LOG4J_PRIORITY, LOG4J_EXPRESSION, "Block Log4j lookups"))
    for index, rule_set in enumerate(armor.waf_rules):
        expression = waf_expression(rule_set, armor.waf_sensitivity)
        rules.append(_expr_rule(WAF_FIRST_PRIORITY + index, expression, f"WAF {rule_set}"))
    rate = ComputeSecurityPolicyRuleRateLimitOptions(
        conform_action="allow",
        exceed_action="deny(429)",
        enforce_on_key="IP",
        rate_limit_threshold=ComputeSecurityPolicyRuleRateLimitOptionsRateLimitThreshold(
            count=armor.rate_limit_requests_per_minute, interval_sec=60
        ),
        ban_duration_sec=armor.rate_limit_ban_seconds,
    )
    rules.append(
        ComputeSecurityPolicyRule(
            priority=RATE_LIMIT_PRIORITY,
            action="rate_based_ban",
            description="Per-IP rate limit",
            match=_all_ips(),
            rate_limit_options=rate,
        )
    )
    rules.append(
        ComputeSecurityPolicyRule(
            priority=DEFAULT_RULE_PRIORITY,
            action="allow",
            description="Default allow",
            match=_all_ips(),
        )
    )
    return rules


class Edge(Construct):
    """HTTPS load balancer + Cloud Armor for one Cloud Run service.

    Attributes: `address` (IP token), `security_policy`, `backend_service`,
    `url` (`https://<first domain>`), `certificate`, `https_forwarding_rule`,
    `http_forwarding_rule`.
    """

    def __init__(self, scope: Construct, id: str, props: EdgeProps) -> None:
        super().__init__(scope, id)
        name, project = props.name_prefix, props.project_id
        after = list(props.depends_on_resources) or None
        ip = ComputeGlobalAddress(
            self,
            "address",
            project=project,
            name=f"{name}-ip",
            address_type="EXTERNAL",
            ip_version="IPV4",
            labels=dict(props.labels),
            depends_on=after,
        )
        ip_id = ip.id  # read once: each read is a round trip to Node.js
        neg = ComputeRegionNetworkEndpointGroup(
            self,
            "neg",
            project=project,
            name=f"{name}-neg",
            region=props.region,
            network_endpoint_type="SERVERLESS",
            cloud_run=ComputeRegionNetworkEndpointGroupCloudRun(
                service=props.cloud_run_service_name
            ),
            depends_on=after,
        )
        self.security_policy = ComputeSecurityPolicy(
            self,
            "security-policy",
            project=project,
            name=f"{name}-armor",
            description="WAF and rate limiting in front of the API",
            type="CLOUD_ARMOR",
            labels=dict(props.labels),
            advanced_options_config=ComputeSecurityPolicyAdvancedOptionsConfig(
                json_parsing="STANDARD", log_level="NORMAL"
            ),
            rule=security_rules(props.armor),
            depends_on=after,
        )
        self.backend_service = ComputeBackendService(
            self,
            "backend",
            project=project,
            name=f"{name}-backend",
            load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTPS",
            security_policy=self.security_policy.id,
            backend=[ComputeBackendServiceBackend(group=neg.id)],
            log_config=ComputeBackendServiceLogConfig(enable=True, sample_rate=1),
            depends_on=after,
        )
        url_map = ComputeUrlMap(
            self,
            "url-map",
            project=project,
            name=f"{name}-urlmap",
            default_service=self.backend_service.id,
            depends_on=after,
        )
        # A certificate's domains cannot change in place: the name follows the domains and the
        # new certificate is attached before the old one goes, so a domain change has no gap.
        digest = hashlib.sha256(",".join(props.domains).encode()).hexdigest()[:8]
        self.certificate = ComputeManagedSslCertificate(
            self,
            "certificate",
            project=project,
            name=f"{name}-cert-{digest}",
            managed=ComputeManagedSslCertificateManaged(domains=list(props.domains)),
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=after,
        )
        ssl_policy = ComputeSslPolicy(
            self,
            "ssl-policy",
            project=project,
            name=f"{name}-tls",
            profile="MODERN",
            min_tls_version="TLS_1_2",
            depends_on=after,
        )
        https_proxy = ComputeTargetHttpsProxy(
            self,
            "https-proxy",
            project=project,
            name=f"{name}-https-proxy",
            url_map=url_map.id,
            ssl_certificates=[self.certificate.id],
            ssl_policy=ssl_policy.id,
            depends_on=after,
        )
        self.https_forwarding_rule = self._forwarding_rule(
            props, "https", ip_id, https_proxy.id, 443
        )
        redirect = ComputeUrlMap(
            self,
            "http-redirect",
            project=project,
            name=f"{name}-http-redirect",
            default_url_redirect=ComputeUrlMapDefaultUrlRedirect(
                https_redirect=True,
                strip_query=False,
                redirect_response_code="MOVED_PERMANENTLY_DEFAULT",
            ),
            depends_on=after,
        )
        http_proxy = ComputeTargetHttpProxy(
            self,
            "http-proxy",
            project=project,
            name=f"{name}-http-proxy",
            url_map=redirect.id,
            depends_on=after,
        )
        self.http_forwarding_rule = self._forwarding_rule(props, "http", ip_id, http_proxy.id, 80)
        self.address = ip.address
        self.url = f"https://{props.domains[0]}"

    def _forwarding_rule(
        self, props: EdgeProps, kind: str, ip_id: str, target: str, port: int
    ) -> ComputeGlobalForwardingRule:
        return ComputeGlobalForwardingRule(
            self,
            f"{kind}-forwarding-rule",
            project=props.project_id,
            name=f"{props.name_prefix}-{kind}",
            ip_address=ip_id,
            ip_protocol="TCP",
            port_range=str(port),
            load_balancing_scheme="EXTERNAL_MANAGED",
            target=target,
            labels=dict(props.labels),
            depends_on=list(props.depends_on_resources) or None,
        )
