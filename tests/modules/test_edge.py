"""The edge module: HTTPS load balancer, managed certificate and Cloud Armor for the api."""

from __future__ import annotations

from typing import Any

import pytest

from modules.edge import DEFAULT_WAF_RULES, ArmorPolicy, Edge, EdgeProps
from tests.modules.conftest import LABELS, PROJECT, REGION, only, resources

DOMAINS = ["api.example.com", "agents.example.com"]
BASE = {
    "project_id": PROJECT,
    "region": REGION,
    "name_prefix": "agents-prod",
    "cloud_run_service_name": "agents-prod-api",
    "domains": DOMAINS,
    "labels": LABELS,
}
BUILT: dict[str, Edge] = {}


def build(stack: Any) -> None:
    BUILT["edge"] = Edge(
        stack,
        "edge",
        EdgeProps(**BASE, armor=ArmorPolicy(rate_limit_requests_per_minute=300, waf_sensitivity=2)),
    )


@pytest.fixture(scope="module")
def tf(synth) -> dict[str, Any]:
    return synth(build)


def ref(tf: dict[str, Any], resource_type: str, name: str, attribute: str = "id") -> str:
    """The Terraform reference to an attribute of the resource of a type named `name`."""
    (logical,) = [k for k, r in resources(tf, resource_type).items() if r["name"] == name]
    return f"${{{resource_type}.{logical}.{attribute}}}"


def rules(tf: dict[str, Any]) -> list[dict[str, Any]]:
    return only(tf, "google_compute_security_policy")["rule"]


def test_serverless_neg_points_at_the_named_service(tf) -> None:
    neg = only(tf, "google_compute_region_network_endpoint_group")
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert neg["region"] == REGION
    assert neg["cloud_run"] == {"service": "agents-prod-api"}


def test_backend_service_is_external_managed_logged_and_armored(tf) -> None:
    backend = only(tf, "google_compute_backend_service")
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    policy = ref(tf, "google_compute_security_policy", "agents-prod-armor")
    assert backend["security_policy"] == policy
    neg = ref(tf, "google_compute_region_network_endpoint_group", "agents-prod-neg")
    assert backend["backend"] == [{"group": neg}]
    assert backend["log_config"]["enable"] is True


def test_security_policy_carries_the_labels(tf) -> None:
    assert only(tf, "google_compute_security_policy")["labels"] == LABELS


def test_one_deny_rule_per_preconfigured_waf_set(tf) -> None:
    expressions = {r["match"]["expr"]["expression"]: r for r in rules(tf) if "expr" in r["match"]}
    for rule_set in DEFAULT_WAF_RULES:
        rule = expressions[f"evaluatePreconfiguredWaf('{rule_set}', {{'sensitivity': 2}})"]
        assert rule["action"] == "deny(403)" and rule["preview"] is False
    assert expressions["evaluatePreconfiguredExpr('cve-canary')"]["action"] == "deny(403)"
    assert len(expressions) == len(DEFAULT_WAF_RULES) + 1


def test_rate_based_rule_bans_per_ip_after_the_deny_rules(tf) -> None:
    (rate,) = [r for r in rules(tf) if r["action"] == "rate_based_ban"]
    options = rate["rate_limit_options"]
    assert options["rate_limit_threshold"] == {"count": 300, "interval_sec": 60}
    assert (options["enforce_on_key"], options["exceed_action"]) == ("IP", "deny(429)")
    assert options["conform_action"] == "allow" and options["ban_duration_sec"] > 0
    # A conforming request is allowed by this rule and stops evaluation: every deny rule
    # must have run before it.
    denies = [r["priority"] for r in rules(tf) if r["action"].startswith("deny")]
    assert max(denies) < rate["priority"]


def test_default_rule_allows_at_the_lowest_priority(tf) -> None:
    last = max(rules(tf), key=lambda r: r["priority"])
    assert last["priority"] == 2147483647 and last["action"] == "allow"
    assert last["match"]["config"]["src_ip_ranges"] == ["*"]
    assert len({r["priority"] for r in rules(tf)}) == len(rules(tf))


def test_managed_certificate_covers_the_domains(tf) -> None:
    cert = only(tf, "google_compute_managed_ssl_certificate")
    assert cert["managed"]["domains"] == DOMAINS
    assert cert["lifecycle"]["create_before_destroy"] is True
    proxy = only(tf, "google_compute_target_https_proxy")
    assert proxy["ssl_certificates"] == [
        ref(tf, "google_compute_managed_ssl_certificate", cert["name"])
    ]
    assert proxy["url_map"] == ref(tf, "google_compute_url_map", "agents-prod-urlmap")
    assert only(tf, "google_compute_ssl_policy")["min_tls_version"] == "TLS_1_2"


def test_https_forwarding_rule_on_443_and_redirect_on_80(tf) -> None:
    rules_by_port = {
        r["port_range"]: r for r in resources(tf, "google_compute_global_forwarding_rule").values()
    }
    assert set(rules_by_port) == {"443", "80"}
    address = ref(tf, "google_compute_global_address", "agents-prod-ip")
    for rule in rules_by_port.values():
        assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
        assert rule["ip_address"] == address
    https_proxy = ref(tf, "google_compute_target_https_proxy", "agents-prod-https-proxy")
    assert rules_by_port["443"]["target"] == https_proxy
    http_proxy = ref(tf, "google_compute_target_http_proxy", "agents-prod-http-proxy")
    assert rules_by_port["80"]["target"] == http_proxy
    redirect_map = ref(tf, "google_compute_url_map", "agents-prod-http-redirect")
    assert only(tf, "google_compute_target_http_proxy")["url_map"] == redirect_map
    redirect = next(
        m for m in resources(tf, "google_compute_url_map").values() if "default_url_redirect" in m
    )
    assert redirect["default_url_redirect"]["https_redirect"] is True
    assert "default_service" not in redirect


def test_attributes_expose_url_and_address(tf) -> None:
    edge = BUILT["edge"]
    assert edge.url == "https://api.example.com"
    assert edge.address.startswith("${TfToken[")


def test_certificate_name_follows_the_domains(tmp_path) -> None:
    """Certificates are immutable: new domains need a new name so both can coexist."""
    from cdktn import App, TerraformStack

    stack = TerraformStack(App(outdir=str(tmp_path)), "names")
    first = Edge(stack, "first", EdgeProps(**BASE)).certificate.name_input
    again = Edge(stack, "again", EdgeProps(**BASE)).certificate.name_input
    other = Edge(stack, "other", EdgeProps(**{**BASE, "domains": ["new.example.com"]}))
    assert first == again and first.startswith("agents-prod-cert-")
    assert other.certificate.name_input != first


def test_bad_props_create_nothing(tmp_path) -> None:
    from cdktn import App, TerraformStack

    stack = TerraformStack(App(outdir=str(tmp_path)), "bad")
    with pytest.raises(ValueError):
        Edge(stack, "edge", EdgeProps(**{**BASE, "domains": []}))
    assert stack.node.try_find_child("edge") is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"domains": []}, "domains"),
        ({"domains": "api.example.com"}, "domains"),
        ({"domains": ["https://api.example.com"]}, "domains"),
        ({"domains": ["*.example.com"]}, "domains"),
        ({"domains": ["API.example.com"]}, "domains"),
        ({"domains": ["localhost"]}, "domains"),
        ({"domains": ["a.example.com", "a.example.com"]}, "domains"),
        ({"name_prefix": "Agents"}, "name_prefix"),
        ({"labels": {"env": "prod"}}, "labels"),
        ({"cloud_run_service_name": "API"}, "cloud_run_service_name"),
        ({"armor": {"waf_sensitivity": 2}}, "armor"),
    ],
)
def test_bad_props_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^EdgeProps\.{field}: .+, got "):
        EdgeProps(**{**BASE, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rate_limit_requests_per_minute": 0}, "rate_limit_requests_per_minute"),
        ({"waf_rules": ["sqli"]}, "waf_rules"),
        ({"waf_sensitivity": 5}, "waf_sensitivity"),
    ],
)
def test_bad_armor_policy_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^ArmorPolicy\.{field}: .+, got "):
        ArmorPolicy(**changes)
