"""A private network for serverless workloads: VPC, subnet, NAT, firewall, Private Service Access.

Why: Cloud Run reaches Memorystore and other private services through Direct VPC egress into a
subnet, and Memorystore lives behind Private Service Access. The network denies all ingress
unless a rule is declared, and logs flows, NAT errors and firewall hits for investigations.

Creates: a custom-mode VPC `<name>`; one subnet `<name>-<region>` with Private Google Access
and flow logs; Cloud Router `<name>-router` and Cloud NAT `<name>-nat` (automatic IPs, all
subnets, logging); firewall `<name>-deny-all-ingress` (deny everything, priority 65534,
logged) and one logged allow rule `<name>-allow-<rule>` per `IngressRule`; a global address
`<name>-psa` (VPC_PEERING, INTERNAL) and the `servicenetworking.googleapis.com` connection.
The props come in groups: `AddressPlan` (the subnet's range, the PSA range's size) and
`NetworkLogging` (flow log sampling, NAT log filter).

Example::

    network = Network(stack, "network", NetworkProps(
        project_id="acme-shop-prod",
        region="europe-west1",
        name="shop-prod",
        labels={"app": "shop", "env": "prod"},
        ingress_rules=[IngressRule(name="iap-ssh", source_ranges=["35.235.240.0/20"],
                                   ports=["22"], target_tags=["ssh"])],
        addresses=AddressPlan(subnet_cidr="10.20.0.0/24"),
        logging=NetworkLogging(flow_log_sampling=0.25),
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
      google_compute_network.network_vpc: {name: shop-prod, routing_mode: REGIONAL}
      google_compute_subnetwork.network_subnet:
        name: shop-prod-europe-west1
        ip_cidr_range: 10.20.0.0/24
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
from typing import Any, NoReturn

from cdktn import Token
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

_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_PRIVATE_V4 = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
_PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all")
_PORT_PROTOCOLS = ("tcp", "udp", "sctp")
_NAT_LOG_FILTERS = ("ERRORS_ONLY", "TRANSLATIONS_ONLY", "ALL")
_ADMIN_PORTS = (22, 3389)  # never open to 0.0.0.0/0
_NAME_RULE = "lowercase letters, digits or hyphens, starting with a letter"
# The prefix lengths of the Private Service Access range this module accepts: a /24 is the
# smallest Memorystore takes, a /16 the largest reservation worth making for one VPC.
PSA_PREFIX_LENGTH = (16, 24)


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


def _network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network a CIDR string names (no host bits set), or None."""
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None


def _port_span(port: object) -> tuple[int, int] | None:
    parts = port.split("-") if isinstance(port, str) else []
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
        return None
    low, high = int(parts[0]), int(parts[-1])
    return (low, high) if 0 <= low <= high <= 65535 else None


@dataclass(frozen=True, kw_only=True)
class IngressRule:
    """An exception to the deny-all ingress baseline: who may reach which ports."""

    name: str
    source_ranges: Sequence[str]
    protocol: str = "tcp"
    ports: Sequence[str] = ()
    target_tags: Sequence[str] = ()

    def __post_init__(self) -> None:
        owner = type(self).__name__
        ok = _matches(_NAME, self.name) and len(self.name) <= 30
        _check(owner, "name", ok, f"must be at most 30 {_NAME_RULE}", self.name)
        ok = _is_list(self.source_ranges) and len(self.source_ranges) > 0
        allowed = "must be a non-empty list of CIDR ranges"
        _check(owner, "source_ranges", ok, allowed, self.source_ranges)
        networks = []
        for cidr in self.source_ranges:
            network = _network(cidr)
            msg = "each entry must be a CIDR such as '35.235.240.0/20' with no host bits set"
            _check(owner, "source_ranges", network is not None, msg, cidr)
            networks.append(network)
        allowed = f"must be one of {_PROTOCOLS}"
        _check(owner, "protocol", self.protocol in _PROTOCOLS, allowed, self.protocol)
        _check(owner, "ports", _is_list(self.ports), "must be a list of ports", self.ports)
        ok = not self.ports or self.protocol in _PORT_PROTOCOLS
        _check(owner, "ports", ok, f"are allowed only with protocols {_PORT_PROTOCOLS}", self.ports)
        spans: list[tuple[int, int]] = []
        for port in self.ports:
            span = _port_span(port)
            msg = "each entry must be a port '443' or a range '8000-8080' within 0-65535"
            _check(owner, "ports", span is not None, msg, port)
            spans.append(span or (0, 0))
        spans = spans or [(0, 65535)]
        world = any(n is not None and n.prefixlen == 0 for n in networks)
        admin = [p for p in _ADMIN_PORTS if any(lo <= p <= hi for lo, hi in spans)]
        ok = not (world and admin and self.protocol in ("tcp", "all"))
        msg = f"may not open ports {admin} to the internet; use IAP's 35.235.240.0/20"
        _check(owner, "source_ranges", ok, msg, self.source_ranges)
        ok = _is_list(self.target_tags) and all(_matches(_NAME, t) for t in self.target_tags)
        allowed = f"must be a list of network tags ({_NAME_RULE})"
        _check(owner, "target_tags", ok, allowed, self.target_tags)


@dataclass(frozen=True, kw_only=True)
class AddressPlan:
    """The network's private addresses: the subnet's range, and the prefix length of the range
    reserved for Private Service Access (Memorystore and other peered services)."""

    subnet_cidr: str = "10.10.0.0/24"
    psa_prefix_length: int = 20

    def __post_init__(self) -> None:
        owner = type(self).__name__
        cidr = _network(self.subnet_cidr)
        ok = (
            isinstance(cidr, ipaddress.IPv4Network)
            and any(cidr.subnet_of(n) for n in _PRIVATE_V4)
            and 8 <= cidr.prefixlen <= 29
        )
        msg = "must be an IPv4 CIDR, /8 to /29, in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
        _check(owner, "subnet_cidr", ok, msg, self.subnet_cidr)
        _check_int(owner, "psa_prefix_length", self.psa_prefix_length, PSA_PREFIX_LENGTH)


@dataclass(frozen=True, kw_only=True)
class NetworkLogging:
    """What the network logs: the share of the subnet's flows sampled into flow logs, and which
    Cloud NAT events (`ERRORS_ONLY`, `TRANSLATIONS_ONLY` or `ALL`)."""

    flow_log_sampling: float = 0.5
    nat_log_filter: str = "ERRORS_ONLY"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        rate = self.flow_log_sampling
        ok = isinstance(rate, int | float) and not isinstance(rate, bool) and 0 < rate <= 1
        _check(owner, "flow_log_sampling", ok, "must be a number above 0 and at most 1", rate)
        ok = self.nat_log_filter in _NAT_LOG_FILTERS
        allowed = f"must be one of {_NAT_LOG_FILTERS}"
        _check(owner, "nat_log_filter", ok, allowed, self.nat_log_filter)


@dataclass(frozen=True, kw_only=True)
class NetworkProps:
    """Where the network lives, its address plan, what it logs and the ingress it admits."""

    project_id: str
    region: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)  # for the PSA address; optional
    addresses: AddressPlan = field(default_factory=AddressPlan)
    logging: NetworkLogging = field(default_factory=NetworkLogging)
    ingress_rules: Sequence[IngressRule] = ()
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        allowed = "must be a region such as 'europe-west1' (not a zone)"
        _check_match(owner, "region", _REGION, self.region, allowed, tokens=False)
        limit = 63 - max(len("-deny-all-ingress"), len(self.region) + 1)
        ok = _matches(_NAME, self.name) and len(self.name) <= limit
        _check(owner, "name", ok, f"must be at most {limit} {_NAME_RULE}", self.name)
        if self.labels:
            _check_labels(owner, self.labels)
        for name, kind in (("addresses", AddressPlan), ("logging", NetworkLogging)):
            value = getattr(self, name)
            _check(owner, name, isinstance(value, kind), f"must be a {kind.__name__}", value)
        for rule in self.ingress_rules:
            ok = isinstance(rule, IngressRule)
            _check(owner, "ingress_rules", ok, "each entry must be an IngressRule", rule)
        names = [rule.name for rule in self.ingress_rules]
        ok = len(set(names)) == len(names)
        _check(owner, "ingress_rules", ok, "rule names must be unique", names)


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
            ip_cidr_range=props.addresses.subnet_cidr,
            private_ip_google_access=True,
            log_config=ComputeSubnetworkLogConfig(
                aggregation_interval="INTERVAL_5_SEC",
                flow_sampling=props.logging.flow_log_sampling,
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
            log_config=ComputeRouterNatLogConfig(enable=True, filter=props.logging.nat_log_filter),
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
            prefix_length=props.addresses.psa_prefix_length,
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
