"""Network: private by default, logged, and peered for Private Service Access."""

from __future__ import annotations

import pytest

from tests.modules.conftest import LABELS, PROJECT, REGION, only, resources

NAME = "agents-dev"


@pytest.fixture(scope="module")
def built(synth):
    from modules.network import AddressPlan, IngressRule, Network, NetworkLogging, NetworkProps

    made = {}

    def build(stack):
        made["network"] = Network(
            stack,
            "network",
            NetworkProps(
                project_id=PROJECT,
                region=REGION,
                name=NAME,
                addresses=AddressPlan(subnet_cidr="10.20.0.0/24", psa_prefix_length=22),
                logging=NetworkLogging(flow_log_sampling=0.25),
                labels=LABELS,
                ingress_rules=[
                    IngressRule(
                        name="iap-ssh",
                        source_ranges=["35.235.240.0/20"],
                        ports=["22", "8000-8080"],
                        target_tags=["bastion"],
                    ),
                    IngressRule(
                        name="lb-health", source_ranges=["130.211.0.0/22"], protocol="icmp"
                    ),
                ],
            ),
        )

    return synth(build), made["network"]


def ref(resource_type: str, tf: dict, attribute: str) -> str:
    """The Terraform expression for an attribute of the single resource of a type."""
    (key,) = resources(tf, resource_type)
    return f"${{{resource_type}.{key}.{attribute}}}"


def test_vpc_is_custom_mode(built):
    tf, _ = built
    vpc = only(tf, "google_compute_network")
    assert vpc["name"] == NAME
    assert vpc["project"] == PROJECT
    assert vpc["auto_create_subnetworks"] is False


def test_subnet_has_private_google_access_and_flow_logs(built):
    tf, _ = built
    subnet = only(tf, "google_compute_subnetwork")
    assert subnet["name"] == f"{NAME}-{REGION}"
    assert subnet["region"] == REGION
    assert subnet["ip_cidr_range"] == "10.20.0.0/24"
    assert subnet["network"] == ref("google_compute_network", tf, "id")
    assert subnet["private_ip_google_access"] is True
    assert subnet["log_config"]["flow_sampling"] == 0.25
    assert subnet["log_config"]["metadata"] == "INCLUDE_ALL_METADATA"


def test_router_and_nat_cover_all_subnets_with_logging(built):
    tf, _ = built
    router = only(tf, "google_compute_router")
    nat = only(tf, "google_compute_router_nat")
    assert router["name"] == f"{NAME}-router"
    assert router["network"] == ref("google_compute_network", tf, "id")
    assert nat["name"] == f"{NAME}-nat"
    assert nat["router"] == ref("google_compute_router", tf, "name")
    assert nat["region"] == REGION
    assert nat["nat_ip_allocate_option"] == "AUTO_ONLY"
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    assert nat["log_config"] == {"enable": True, "filter": "ERRORS_ONLY"}


def firewalls_by_name(tf: dict) -> dict[str, dict]:
    return {fw["name"]: fw for fw in resources(tf, "google_compute_firewall").values()}


def test_baseline_denies_all_ingress_at_low_priority_with_logging(built):
    tf, _ = built
    deny = firewalls_by_name(tf)[f"{NAME}-deny-all-ingress"]
    assert deny["direction"] == "INGRESS"
    assert deny["deny"] == [{"protocol": "all"}]
    assert "allow" not in deny
    assert deny["source_ranges"] == ["0.0.0.0/0"]
    assert deny["priority"] == 65534
    assert deny["log_config"]["metadata"] == "INCLUDE_ALL_METADATA"
    assert deny["network"] == ref("google_compute_network", tf, "id")


def test_declared_ingress_rules_become_logged_allow_rules_above_the_baseline(built):
    tf, _ = built
    firewalls = firewalls_by_name(tf)
    assert set(firewalls) == {
        f"{NAME}-deny-all-ingress",
        f"{NAME}-allow-iap-ssh",
        f"{NAME}-allow-lb-health",
    }
    ssh = firewalls[f"{NAME}-allow-iap-ssh"]
    assert ssh["direction"] == "INGRESS"
    assert ssh["allow"] == [{"protocol": "tcp", "ports": ["22", "8000-8080"]}]
    assert ssh["source_ranges"] == ["35.235.240.0/20"]
    assert ssh["target_tags"] == ["bastion"]
    assert ssh["priority"] < firewalls[f"{NAME}-deny-all-ingress"]["priority"]
    assert "log_config" in ssh
    icmp = firewalls[f"{NAME}-allow-lb-health"]
    assert icmp["allow"] == [{"protocol": "icmp"}]
    assert "target_tags" not in icmp


def test_private_service_access_range_and_connection(built):
    tf, _ = built
    psa = only(tf, "google_compute_global_address")
    assert psa["name"] == f"{NAME}-psa"
    assert psa["purpose"] == "VPC_PEERING"
    assert psa["address_type"] == "INTERNAL"
    assert psa["prefix_length"] == 22
    assert psa["network"] == ref("google_compute_network", tf, "id")
    assert psa["labels"] == LABELS
    connection = only(tf, "google_service_networking_connection")
    assert connection["service"] == "servicenetworking.googleapis.com"
    assert connection["network"] == ref("google_compute_network", tf, "id")
    assert connection["reserved_peering_ranges"] == [
        ref("google_compute_global_address", tf, "name")
    ]


def test_attributes_reference_the_created_resources(built):
    _, network = built
    for attribute in ("network_id", "network_name", "subnet_id", "subnet_name"):
        assert "${TfToken" in getattr(network, attribute), attribute
    assert network.psa_connection is not None
    assert set(network.ingress_firewalls) == {"iap-ssh", "lb-health"}


def network_props(**overrides):
    from modules.network import NetworkProps

    values = {"project_id": PROJECT, "region": REGION, "name": NAME, **overrides}
    return NetworkProps(**values)


@pytest.mark.parametrize(
    ("overrides", "field", "bad"),
    [
        ({"region": "europe-west1-b"}, "region", "europe-west1-b"),
        ({"region": "Europe"}, "region", "Europe"),
        ({"name": "Agents_Dev"}, "name", "Agents_Dev"),
        ({"name": "a" * 47}, "name", "a" * 47),
        ({"project_id": "p"}, "project_id", "'p'"),
        ({"addresses": {"subnet_cidr": "10.10.0.0/24"}}, "addresses", "'subnet_cidr'"),
        ({"logging": {"nat_log_filter": "ALL"}}, "logging", "'nat_log_filter'"),
        ({"labels": {"app": "agents"}}, "labels", "'app'"),
        ({"labels": {"app": "Agents", "env": "dev"}}, "labels", "app=Agents"),
        ({"ingress_rules": [{"name": "x"}]}, "ingress_rules", "{'name': 'x'}"),
    ],
)
def test_bad_network_props_name_the_field(overrides, field, bad):
    with pytest.raises(ValueError, match=rf"^NetworkProps\.{field}: ") as error:
        network_props(**overrides)
    assert bad in str(error.value)


@pytest.mark.parametrize(
    ("group", "overrides", "field", "bad"),
    [
        ("AddressPlan", {"subnet_cidr": "10.10.0.0/33"}, "subnet_cidr", "10.10.0.0/33"),
        ("AddressPlan", {"subnet_cidr": "10.10.0.1/24"}, "subnet_cidr", "10.10.0.1/24"),
        ("AddressPlan", {"subnet_cidr": "8.8.8.0/24"}, "subnet_cidr", "8.8.8.0/24"),
        ("AddressPlan", {"subnet_cidr": "10.10.0.0/30"}, "subnet_cidr", "10.10.0.0/30"),
        ("AddressPlan", {"psa_prefix_length": 28}, "psa_prefix_length", "28"),
        ("NetworkLogging", {"flow_log_sampling": 0}, "flow_log_sampling", "0"),
        ("NetworkLogging", {"flow_log_sampling": 1.5}, "flow_log_sampling", "1.5"),
        ("NetworkLogging", {"nat_log_filter": "SOME"}, "nat_log_filter", "SOME"),
    ],
)
def test_bad_network_groups_name_the_field(group, overrides, field, bad):
    from modules import network

    with pytest.raises(ValueError, match=rf"^{group}\.{field}: ") as error:
        getattr(network, group)(**overrides)
    assert bad in str(error.value)


def test_duplicate_rule_names_are_refused():
    from modules.network import IngressRule

    rule = IngressRule(name="web", source_ranges=["10.0.0.0/8"], ports=["443"])
    with pytest.raises(ValueError, match=r"^NetworkProps\.ingress_rules: .*unique"):
        network_props(ingress_rules=[rule, rule])


@pytest.mark.parametrize(
    ("overrides", "field", "bad"),
    [
        ({"name": "Web Rule"}, "name", "Web Rule"),
        ({"source_ranges": []}, "source_ranges", "[]"),
        ({"source_ranges": ["10.0.0.0/33"]}, "source_ranges", "10.0.0.0/33"),
        ({"source_ranges": "10.0.0.0/8"}, "source_ranges", "10.0.0.0/8"),
        ({"protocol": "http"}, "protocol", "http"),
        ({"protocol": "icmp", "ports": ["80"]}, "ports", "80"),
        ({"ports": ["70000"]}, "ports", "70000"),
        ({"ports": ["90-80"]}, "ports", "90-80"),
        ({"ports": "443"}, "ports", "443"),
        ({"source_ranges": ["0.0.0.0/0"], "ports": ["20-25"]}, "source_ranges", "0.0.0.0/0"),
        ({"source_ranges": ["0.0.0.0/0"], "ports": []}, "source_ranges", "0.0.0.0/0"),
        ({"target_tags": ["Bad Tag"]}, "target_tags", "Bad Tag"),
    ],
)
def test_bad_ingress_rule_names_the_field(overrides, field, bad):
    from modules.network import IngressRule

    values = {"name": "web", "source_ranges": ["10.0.0.0/8"], "ports": ["443"], **overrides}
    with pytest.raises(ValueError, match=rf"^IngressRule\.{field}: ") as error:
        IngressRule(**values)
    assert bad in str(error.value)


def test_https_from_anywhere_is_a_valid_rule():
    from modules.network import IngressRule

    rule = IngressRule(name="https", source_ranges=["0.0.0.0/0"], ports=["443"])
    assert network_props(ingress_rules=[rule]).ingress_rules == [rule]
