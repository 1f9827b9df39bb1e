"""A private network for serverless workloads: VPC, subnet, NAT, firewall, Private Service Access.

Why: Cloud Run reaches Memorystore and other private services through Direct VPC egress into a
subnet, and Memorystore lives behind Private Service Access. The network denies all ingress
unless a rule is declared, and logs flows, NAT errors and firewall hits for investigations.

Creates: a custom-mode VPC `<name>`; one subnet `<name>-<region>` with Private Google Access
and flow logs; Cloud Router `<name>-router` and Cloud NAT `<name>-nat` (automatic IPs, all
subnets, logging); firewall `<name>-deny-all-ingress` (deny everything, priority 65534,
logged) and one logged allow rule `<name>-allow-<rule>` per `IngressRule`; a global address
`<name>-psa` (VPC_PEERING, INTERNAL) and the `servicenetworking.googleapis.com` connection.

Example::

    network = Network(stack, "network", NetworkProps(
        project_id="acme-agents-dev",
        region="europe-west1",
        name="agents-dev",
        labels={"app": "agents", "env": "dev"},
        ingress_rules=[IngressRule(name="iap-ssh", source_ranges=["35.235.240.0/20"],
                                   ports=["22"], target_tags=["ssh"])],
    ))
    subnet_for_cloud_run = network.subnet_name

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_compute_firewall: 2
      google_compute_global_address: 1
      google_compute_network: 1
      google_compute_router: 1
      google_compute_router_nat: 1
      google_compute_subnetwork: 1
      google_service_networking_connection: 1
      resources: 8
    values:
      google_compute_network.network_vpc: {name: agents-dev, routing_mode: REGIONAL}
      google_compute_subnetwork.network_subnet:
        name: agents-dev-europe-west1
        private_ip_google_access: true
        log_config: [{metadata: INCLUDE_ALL_METADATA}]
      google_compute_firewall.network_deny-all-ingress:
        {priority: 65534, direction: INGRESS, deny: [{protocol: all}], source_ranges: [0.0.0.0/0]}
      google_compute_firewall.network_allow-iap-ssh:
        allow: [{protocol: tcp, ports: ["22"]}]
        source_ranges: [35.235.240.0/20]
      google_compute_router_nat.network_nat: {log_config: [{enable: true, filter: ERRORS_ONLY}]}
      google_compute_global_address.network_psa-range: {purpose: VPC_PEERING, prefix_length: 20}
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktn_provider_google.compute_firewall import (
    ComputeFirewall,
    ComputeFirewallAllow,
    ComputeFirewallDeny,
    ComputeFirewallLogConfig,
)
from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
from cdktn_provider_google.compute_network import ComputeNetwork
from cdktn_provider_google.compute_router import ComputeRouter
from cdktn_provider_google.compute_router_nat import ComputeRouterNat, ComputeRouterNatLogConfig
from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork, ComputeSubnetworkLogConfig
from cdktn_provider_google.service_networking_connection import ServiceNetworkingConnection
from constructs import Construct

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_PRIVATE_V4 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
_PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all")
_PORT_PROTOCOLS = ("tcp", "udp", "sctp")
_NAT_LOG_FILTERS = ("ERRORS_ONLY", "TRANSLATIONS_ONLY", "ALL")
_ADMIN_PORTS = (22, 3389)  # never open to 0.0.0.0/0
_LABEL_RULE = "labels must be <= 63 lowercase letters, digits, _ or -"
_NAME_RULE = "lowercase letters, digits or hyphens, starting with a letter"


def _check(props: object, field_name: str, ok: bool, allowed: str, got: Any = None) -> None:
    """Raise `<PropsClass>.<field>: <allowed>, got <value>` unless ok."""
    if not ok:
        value = getattr(props, field_name) if got is None else got
        raise ValueError(f"{type(props).__name__}.{field_name}: {allowed}, got {value!r}")


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.match(value) is not None


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _network(value: object, strict: bool = True) -> Any:
    try:
        return ipaddress.ip_network(value, strict=strict)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _port_span(port: object) -> tuple[int, int] | None:
    parts = port.split("-") if isinstance(port, str) else []
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
        return None
    low, high = int(parts[0]), int(parts[-1])
    return (low, high) if 0 <= low <= high <= 65535 else None


def _check_labels(props: object, labels: object) -> None:
    ok = isinstance(labels, Mapping) and {"app", "env"} <= set(labels)
    _check(props, "labels", ok, "must be a mapping that includes 'app' and 'env'")
    for key, value in labels.items():  # type: ignore[union-attr]
        _check(props, "labels", _matches(_LABEL_KEY, key), _LABEL_RULE + ", keys start a-z", key)
        _check(props, "labels", _matches(_LABEL_VALUE, value), _LABEL_RULE, f"{key}={value}")


@dataclass(frozen=True, kw_only=True)
class IngressRule:
    """An exception to the deny-all ingress baseline: who may reach which ports."""

    name: str
    source_ranges: Sequence[str]
    protocol: str = "tcp"
    ports: Sequence[str] = ()
    target_tags: Sequence[str] = ()

    def __post_init__(self) -> None:
        ok = _matches(_NAME, self.name) and len(self.name) <= 30
        _check(self, "name", ok, f"must be at most 30 {_NAME_RULE}")
        ok = _is_list(self.source_ranges) and len(self.source_ranges) > 0
        _check(self, "source_ranges", ok, "must be a non-empty list of CIDR ranges")
        for cidr in self.source_ranges:
            msg = "each entry must be a CIDR such as '35.235.240.0/20' with no host bits set"
            _check(self, "source_ranges", _network(cidr) is not None, msg, cidr)
        _check(self, "protocol", self.protocol in _PROTOCOLS, f"must be one of {_PROTOCOLS}")
        _check(self, "ports", _is_list(self.ports), "must be a list of ports")
        ok = not self.ports or self.protocol in _PORT_PROTOCOLS
        _check(self, "ports", ok, f"are allowed only with protocols {_PORT_PROTOCOLS}")
        spans = [_port_span(port) for port in self.ports]
        for port, span in zip(self.ports, spans, strict=True):
            msg = "each entry must be a port '443' or a range '8000-8080' within 0-65535"
            _check(self, "ports", span is not None, msg, port)
        spans = spans or [(0, 65535)]
        world = any(_network(c).prefixlen == 0 for c in self.source_ranges)
        admin = [p for p in _ADMIN_PORTS if any(lo <= p <= hi for lo, hi in spans)]  # type: ignore[misc]
        ok = not (world and admin and self.protocol in ("tcp", "all"))
        msg = f"may not open ports {admin} to the internet; use IAP's 35.235.240.0/20"
        _check(self, "source_ranges", ok, msg)
        ok = _is_list(self.target_tags) and all(_matches(_NAME, t) for t in self.target_tags)
        _check(self, "target_tags", ok, f"must be a list of network tags ({_NAME_RULE})")


@dataclass(frozen=True, kw_only=True)
class NetworkProps:
    """Where the network lives, its address plan and the ingress it admits."""

    project_id: str
    region: str
    name: str
    subnet_cidr: str = "10.10.0.0/24"
    psa_prefix_length: int = 20
    flow_log_sampling: float = 0.5
    ingress_rules: Sequence[IngressRule] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # for the PSA address; optional
    nat_log_filter: str = "ERRORS_ONLY"
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        ok = _matches(_PROJECT_ID, self.project_id)
        _check(self, "project_id", ok, f"must be 6-30 {_NAME_RULE}")
        ok = _matches(_REGION, self.region)
        _check(self, "region", ok, "must be a region such as 'europe-west1' (not a zone)")
        limit = 63 - max(len("-deny-all-ingress"), len(self.region) + 1)
        ok = _matches(_NAME, self.name) and len(self.name) <= limit
        _check(self, "name", ok, f"must be at most {limit} {_NAME_RULE}")
        cidr = _network(self.subnet_cidr)
        ok = cidr is not None and cidr.version == 4 and any(cidr.subnet_of(n) for n in _PRIVATE_V4)
        msg = "must be an IPv4 CIDR, /8 to /29, in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
        _check(self, "subnet_cidr", ok and 8 <= cidr.prefixlen <= 29, msg)
        prefix = self.psa_prefix_length
        ok = isinstance(prefix, int) and not isinstance(prefix, bool) and 16 <= prefix <= 24
        _check(self, "psa_prefix_length", ok, "must be an integer between 16 and 24")
        rate = self.flow_log_sampling
        ok = isinstance(rate, int | float) and not isinstance(rate, bool) and 0 < rate <= 1
        _check(self, "flow_log_sampling", ok, "must be a number above 0 and at most 1")
        ok = self.nat_log_filter in _NAT_LOG_FILTERS
        _check(self, "nat_log_filter", ok, f"must be one of {_NAT_LOG_FILTERS}")
        if self.labels:
            _check_labels(self, self.labels)
        for rule in self.ingress_rules:
            ok = isinstance(rule, IngressRule)
            _check(self, "ingress_rules", ok, "each entry must be an IngressRule", rule)
        names = [rule.name for rule in self.ingress_rules]
        ok = len(set(names)) == len(names)
        _check(self, "ingress_rules", ok, "rule names must be unique", names)


class Network(Construct):
    """The VPC that Cloud Run egresses into and private services peer with.

    Attributes:
        vpc, subnet, router, nat, psa_range, psa_connection: the resources.
        deny_all_ingress, ingress_firewalls: the baseline and the declared allow rules.
        network_id, network_name, subnet_id, subnet_name: references (Terraform tokens, so a
            consumer such as Cloud Run's `vpc_access` waits for the network to exist).
    """

    def __init__(self, scope: Construct, id: str, props: NetworkProps) -> None:
        super().__init__(scope, id)
        name, project = props.name, props.project_id
        after = list(props.depends_on_resources) or None
        self.vpc = ComputeNetwork(
            self,
            "vpc",
            name=name,
            project=project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            depends_on=after,
        )
        vpc_id = self.vpc.id  # one token, read once: each read is a round trip to Node.js
        self.subnet = ComputeSubnetwork(
            self,
            "subnet",
            name=f"{name}-{props.region}",
            project=project,
            region=props.region,
            network=vpc_id,
            ip_cidr_range=props.subnet_cidr,
            private_ip_google_access=True,
            log_config=ComputeSubnetworkLogConfig(
                aggregation_interval="INTERVAL_5_SEC",
                flow_sampling=props.flow_log_sampling,
                metadata="INCLUDE_ALL_METADATA",
            ),
            depends_on=after,
        )
        self.router = ComputeRouter(
            self,
            "router",
            name=f"{name}-router",
            project=project,
            region=props.region,
            network=vpc_id,
            depends_on=after,
        )
        self.nat = ComputeRouterNat(
            self,
            "nat",
            name=f"{name}-nat",
            project=project,
            region=props.region,
            router=self.router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=ComputeRouterNatLogConfig(enable=True, filter=props.nat_log_filter),
            depends_on=after,
        )
        logged = ComputeFirewallLogConfig(metadata="INCLUDE_ALL_METADATA")
        self.deny_all_ingress = ComputeFirewall(
            self,
            "deny-all-ingress",
            name=f"{name}-deny-all-ingress",
            project=project,
            network=vpc_id,
            direction="INGRESS",
            priority=65534,
            deny=[ComputeFirewallDeny(protocol="all")],
            source_ranges=["0.0.0.0/0"],
            log_config=logged,
            depends_on=after,
        )
        self.ingress_firewalls: dict[str, ComputeFirewall] = {}
        for rule in props.ingress_rules:
            self.ingress_firewalls[rule.name] = ComputeFirewall(
                self,
                f"allow-{rule.name}",
                name=f"{name}-allow-{rule.name}",
                project=project,
                network=vpc_id,
                direction="INGRESS",
                priority=1000,
                allow=[
                    ComputeFirewallAllow(protocol=rule.protocol, ports=list(rule.ports) or None)
                ],
                source_ranges=list(rule.source_ranges),
                target_tags=list(rule.target_tags) or None,
                log_config=logged,
                depends_on=after,
            )
        self.psa_range = ComputeGlobalAddress(
            self,
            "psa-range",
            name=f"{name}-psa",
            project=project,
            network=vpc_id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=props.psa_prefix_length,
            labels=dict(props.labels) or None,
            depends_on=after,
        )
        self.psa_connection = ServiceNetworkingConnection(
            self,
            "psa-connection",
            network=vpc_id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.psa_range.name],
            depends_on=after,
        )
        self.network_id: str = vpc_id
        self.network_name: str = self.vpc.name
        self.subnet_id: str = self.subnet.id
        self.subnet_name: str = self.subnet.name
