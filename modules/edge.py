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
        project_id="acme-agents-prod", region="europe-west1", name="agents-prod",
        cloud_run_service_name="agents-prod-api", domains=["api.example.com"],
        labels={"app": "agents", "env": "prod"}))

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
        managed: [{domains: [api.example.com]}]
      google_compute_region_network_endpoint_group.edge_neg:
        {network_endpoint_type: SERVERLESS, cloud_run: [{service: agents-prod-api}]}
      google_compute_ssl_policy.edge_ssl-policy: {min_tls_version: TLS_1_2, profile: MODERN}
      google_compute_url_map.edge_http-redirect:
        default_url_redirect: [{https_redirect: true}]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")
_SERVICE = re.compile(r"[a-z]([-a-z0-9]{0,47}[a-z0-9])?")
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_WAF_RULE = re.compile(r"[a-z0-9]+(-v[0-9]+)?-(stable|canary)")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")

# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: str) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _fail(owner: str, name: str, allowed: str, got: Any) -> NoReturn:
    raise ValueError(f"{owner}.{name}: {allowed}, got {got!r}")


def _match(owner: str, name: str, pattern: re.Pattern[str], value: Any, allowed: str) -> None:
    """Check a plain string against a pattern; tokens from other resources pass unresolved."""
    if isinstance(value, str) and _unresolved(value):
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        _fail(owner, name, allowed, value)


def _check_labels(owner: str, labels: Mapping[str, str]) -> None:
    if not {"app", "env"} <= set(labels):
        _fail(owner, "labels", "must include 'app' and 'env'", dict(labels))
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(str(value)):
            allowed = "keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]{0,63}"
            _fail(owner, "labels", allowed, f"{key}={value}")


@dataclass(frozen=True, kw_only=True)
class EdgeProps:
    """The load balancer of one environment; `name` prefixes every resource name."""

    project_id: str
    region: str
    name: str
    cloud_run_service_name: str
    domains: Sequence[str]
    labels: Mapping[str, str]
    rate_limit_requests_per_minute: int = 600
    rate_limit_ban_seconds: int = 300
    waf_rules: Sequence[str] = DEFAULT_WAF_RULES
    waf_sensitivity: int = 1
    block_log4j_lookups: bool = True
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _match(owner, "project_id", _PROJECT, self.project_id, "must be a GCP project id")
        _match(owner, "region", _REGION, self.region, "must be a region like 'europe-west1'")
        _match(owner, "name", _NAME, self.name, "must match [a-z]([-a-z0-9]{0,38}[a-z0-9])?")
        allowed = "must be a Cloud Run service name"
        _match(owner, "cloud_run_service_name", _SERVICE, self.cloud_run_service_name, allowed)
        if isinstance(self.domains, str) or not 1 <= len(self.domains) <= 100:
            _fail(owner, "domains", "must be a list of 1 to 100 domain names", self.domains)
        for domain in self.domains:
            allowed = "each must be a lowercase fully qualified domain name without wildcard"
            _match(owner, "domains", _DOMAIN, domain, allowed)
        if len(set(self.domains)) != len(self.domains):
            _fail(owner, "domains", "must not repeat a domain", list(self.domains))
        _check_labels(owner, self.labels)
        if not isinstance(self.rate_limit_requests_per_minute, int) or not (
            1 <= self.rate_limit_requests_per_minute <= 1_000_000
        ):
            allowed = "must be an integer between 1 and 1000000"
            _fail(
                owner,
                "rate_limit_requests_per_minute",
                allowed,
                self.rate_limit_requests_per_minute,
            )
        if not isinstance(self.rate_limit_ban_seconds, int) or not (
            1 <= self.rate_limit_ban_seconds <= 86400
        ):
            allowed = "must be an integer between 1 and 86400"
            _fail(owner, "rate_limit_ban_seconds", allowed, self.rate_limit_ban_seconds)
        if isinstance(self.waf_rules, str) or len(set(self.waf_rules)) != len(self.waf_rules):
            _fail(owner, "waf_rules", "must be a list of distinct rule set names", self.waf_rules)
        for rule in self.waf_rules:
            _match(owner, "waf_rules", _WAF_RULE, rule, "each must look like 'sqli-v33-stable'")
        if self.waf_sensitivity not in (1, 2, 3, 4):
            _fail(owner, "waf_sensitivity", "must be 1, 2, 3 or 4", self.waf_sensitivity)


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


def security_rules(props: EdgeProps) -> list[ComputeSecurityPolicyRule]:
    """Log4j and WAF denies, then the per-IP rate-based ban, then the default allow."""
    rules = []
    if props.block_log4j_lookups:
        rules.append(_expr_rule(LOG4J_PRIORITY, LOG4J_EXPRESSION, "Block Log4j lookups"))
    for index, rule_set in enumerate(props.waf_rules):
        expression = waf_expression(rule_set, props.waf_sensitivity)
        rules.append(_expr_rule(WAF_FIRST_PRIORITY + index, expression, f"WAF {rule_set}"))
    rate = ComputeSecurityPolicyRuleRateLimitOptions(
        conform_action="allow",
        exceed_action="deny(429)",
        enforce_on_key="IP",
        rate_limit_threshold=ComputeSecurityPolicyRuleRateLimitOptionsRateLimitThreshold(
            count=props.rate_limit_requests_per_minute, interval_sec=60
        ),
        ban_duration_sec=props.rate_limit_ban_seconds,
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
        name, project = props.name, props.project_id
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
            rule=security_rules(props),
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
            name=f"{props.name}-{kind}",
            ip_address=ip_id,
            ip_protocol="TCP",
            port_range=str(port),
            load_balancing_scheme="EXTERNAL_MANAGED",
            target=target,
            labels=dict(props.labels),
            depends_on=list(props.depends_on_resources) or None,
        )
