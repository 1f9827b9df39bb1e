"""A provider process that answers Terraform's plugin protocol 5 with the Google schema.

Why: Terraform validates and plans a configuration only through its providers, and the real
Google provider cannot be downloaded here. This process is registered as `hashicorp/google`
in a filesystem mirror (`infra.standin.mirror`), so Terraform 1.11 loads it like the real
one: it serves the schema derived from the bindings (`infra.standin.schema`), and plans what
the configuration says, every computed attribute the configuration leaves null being unknown.
It never talks to Google: it cannot read, import or apply anything, and says so.

The launch follows go-plugin, the library Terraform starts providers with: the magic cookie in
the environment, protocol 5 among `PLUGIN_PROTOCOL_VERSIONS`, a gRPC server on loopback, and
one line on stdout, `1|5|tcp|127.0.0.1:<port>|grpc|<server certificate>`. Terraform asks for
TLS (`PLUGIN_CLIENT_CERT`), so the server makes a throwaway certificate the way go-plugin does,
which Terraform then verifies (see `serve` for the other direction).
`plugin.GRPCController/Shutdown` ends the process at once; without it Terraform would wait
two seconds for every provider it stops.

Values cross the protocol as cty msgpack: objects as maps, lists and sets as arrays, unknown
values as msgpack extension 0 (or 12, an unknown with refinements), which are kept as they came.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from types import ModuleType
from typing import Any

import msgpack

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
CORE_PROTOCOL_VERSION = 1
APP_PROTOCOL_VERSION = 5
# go-cty encodes a plain unknown value as msgpack fixext 1 of type 0.
UNKNOWN_EXT = 0
NOT_APPLIED = (
    "the stand-in Google provider only validates and plans; it never talks to Google."
    " Use the real provider (make plan / make apply) for anything that needs the cloud."
)
NESTING = {"single": 1, "group": 5, "list": 2, "set": 3, "map": 4}


def schema_response(schema: dict[str, Any], pb: ModuleType) -> Any:
    """GetProviderSchema.Response for the derived schema (`infra.standin.schema` shape)."""
    response = pb.GetProviderSchema.Response()
    response.provider.CopyFrom(_schema(schema["provider"], pb))
    for name, spec in schema["resource_schemas"].items():
        response.resource_schemas[name].CopyFrom(_schema(spec, pb))
    for name, spec in schema["data_source_schemas"].items():
        response.data_source_schemas[name].CopyFrom(_schema(spec, pb))
    response.server_capabilities.get_provider_schema_optional = True
    return response


def _schema(spec: dict[str, Any], pb: ModuleType) -> Any:
    schema = pb.Schema(version=spec.get("version", 0))
    _fill_block(schema.block, spec["block"], pb)
    return schema


def _fill_block(target: Any, block: dict[str, Any], pb: ModuleType) -> None:
    target.SetInParent()  # an empty block must still be sent: Terraform reads it unchecked
    for name in sorted(block.get("attributes", {})):
        spec = block["attributes"][name]
        target.attributes.add(
            name=name,
            type=json.dumps(spec["type"], separators=(",", ":")).encode(),
            required=spec.get("required", False),
            optional=spec.get("optional", False),
            computed=spec.get("computed", False),
            sensitive=spec.get("sensitive", False),
            write_only=spec.get("write_only", False),
        )
    for name in sorted(block.get("block_types", {})):
        spec = block["block_types"][name]
        nested = target.block_types.add(
            type_name=name,
            nesting=NESTING[spec["nesting_mode"]],
            min_items=spec.get("min_items", 0),
            max_items=spec.get("max_items", 0),
        )
        _fill_block(nested.block, spec["block"], pb)


def cached_schema_bytes(json_path: Path, pb: ModuleType) -> bytes:
    """The serialized GetProviderSchema.Response next to the JSON schema, built once."""
    binary = json_path.with_suffix(".pb")
    if binary.is_file() and binary.stat().st_mtime >= json_path.stat().st_mtime:
        return binary.read_bytes()
    data: bytes = schema_response(json.loads(json_path.read_text()), pb).SerializeToString()
    scratch = binary.with_name(f".{binary.name}.{os.getpid()}.tmp")
    scratch.write_bytes(data)
    os.replace(scratch, binary)
    return data


# --- cty values ---------------------------------------------------------------------------


def decode(data: bytes) -> Any:
    """A msgpack DynamicValue as Python values; unknowns stay `msgpack.ExtType`."""
    if not data:
        return None
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def encode(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unknown() -> Any:
    return msgpack.ExtType(UNKNOWN_EXT, b"\x00")


def is_unknown(value: Any) -> bool:
    return isinstance(value, msgpack.ExtType)


def plan_block(block: Any, proposed: Any) -> Any:
    """The planned value of one object: the proposed new state, where each computed attribute
    that is still null (so neither configured nor known before) becomes unknown, and each
    write-only attribute null, as Terraform requires of a provider's plan."""
    if proposed is None or is_unknown(proposed):
        return proposed
    planned = dict(proposed)
    for attribute in block.attributes:
        if attribute.write_only:
            planned[attribute.name] = None
        elif attribute.computed and planned.get(attribute.name) is None:
            planned[attribute.name] = unknown()
    for nested in block.block_types:
        value = planned.get(nested.type_name)
        if value is None or is_unknown(value):
            continue
        if nested.nesting in (NESTING["single"], NESTING["group"]):
            planned[nested.type_name] = plan_block(nested.block, value)
        elif nested.nesting == NESTING["map"]:
            planned[nested.type_name] = {k: plan_block(nested.block, v) for k, v in value.items()}
        else:
            planned[nested.type_name] = [plan_block(nested.block, item) for item in value]
    return planned


def conform(cty_type: Any, value: Any) -> Any:
    """A JSON value (from a state file) shaped for msgpack under a cty type: every object
    attribute present, attributes the schema does not know dropped."""
    if value is None:
        return None
    if isinstance(cty_type, str):
        return value
    kind, inner = cty_type[0], cty_type[1]
    if kind == "object":
        return {name: conform(t, value.get(name)) for name, t in inner.items()}
    if kind == "map":
        return {k: conform(inner, v) for k, v in value.items()}
    if kind in {"list", "set"}:
        return [conform(inner, item) for item in value]
    return value


def block_type(block: Any) -> Any:
    """The cty type Terraform implies for a schema block (from the protobuf schema)."""
    attributes: dict[str, Any] = {a.name: json.loads(a.type) for a in block.attributes}
    for nested in block.block_types:
        inner = block_type(nested.block)
        if nested.nesting in (NESTING["single"], NESTING["group"]):
            attributes[nested.type_name] = inner
        else:
            mode = {NESTING["list"]: "list", NESTING["set"]: "set", NESTING["map"]: "map"}
            attributes[nested.type_name] = [mode[nested.nesting], inner]
    return ["object", attributes]


# --- the gRPC services -------------------------------------------------------------------


class StandIn:
    """The `tfplugin5.Provider` methods Terraform calls to validate and plan."""

    def __init__(self, pb: ModuleType, schema_json: Path) -> None:
        self.pb = pb
        self.schema_json = schema_json
        self._schema_bytes: bytes | None = None
        self._schema: Any = None
        self._lock = threading.Lock()
        self.stopped = threading.Event()

    def schema_bytes(self) -> bytes:
        with self._lock:
            if self._schema_bytes is None:
                self._schema_bytes = cached_schema_bytes(self.schema_json, self.pb)
            return self._schema_bytes

    def schema(self) -> Any:
        data = self.schema_bytes()
        with self._lock:
            if self._schema is None:
                self._schema = self.pb.GetProviderSchema.Response.FromString(data)
            return self._schema

    def _error(self, response: Any, summary: str, detail: str = "") -> Any:
        response.diagnostics.add(severity=self.pb.Diagnostic.ERROR, summary=summary, detail=detail)
        return response

    # Each handler takes the request message and returns a response message (or raw bytes);
    # the names are the protocol's method names.
    def GetSchema(self, request: Any) -> bytes:
        return self.schema_bytes()

    def PrepareProviderConfig(self, request: Any) -> Any:
        response = self.pb.PrepareProviderConfig.Response()
        response.prepared_config.CopyFrom(request.config)
        return response

    def ValidateResourceTypeConfig(self, request: Any) -> Any:
        return self.pb.ValidateResourceTypeConfig.Response()

    def ValidateDataSourceConfig(self, request: Any) -> Any:
        return self.pb.ValidateDataSourceConfig.Response()

    def Configure(self, request: Any) -> Any:
        return self.pb.Configure.Response()

    def UpgradeResourceState(self, request: Any) -> Any:
        response = self.pb.UpgradeResourceState.Response()
        schema = self.schema().resource_schemas.get(request.type_name)
        if schema is None:
            return self._error(response, f"unknown resource type {request.type_name}")
        state = json.loads(request.raw_state.json or b"null")
        response.upgraded_state.msgpack = encode(conform(block_type(schema.block), state))
        return response

    def ReadResource(self, request: Any) -> Any:
        # Without Google there is nothing to refresh from: the recorded state stands.
        response = self.pb.ReadResource.Response(private=request.private)
        response.new_state.CopyFrom(request.current_state)
        return response

    def PlanResourceChange(self, request: Any) -> Any:
        response = self.pb.PlanResourceChange.Response(planned_private=request.prior_private)
        schema = self.schema().resource_schemas.get(request.type_name)
        if schema is None:
            return self._error(response, f"unknown resource type {request.type_name}")
        proposed = decode(request.proposed_new_state.msgpack)
        response.planned_state.msgpack = encode(plan_block(schema.block, proposed))
        return response

    def ApplyResourceChange(self, request: Any) -> Any:
        return self._error(self.pb.ApplyResourceChange.Response(), "cannot apply", NOT_APPLIED)

    def ImportResourceState(self, request: Any) -> Any:
        return self._error(self.pb.ImportResourceState.Response(), "cannot import", NOT_APPLIED)

    def MoveResourceState(self, request: Any) -> Any:
        return self._error(self.pb.MoveResourceState.Response(), "cannot move", NOT_APPLIED)

    def ReadDataSource(self, request: Any) -> Any:
        # What a data source would read lives in Google: its computed attributes stay null.
        response = self.pb.ReadDataSource.Response()
        response.state.CopyFrom(request.config)
        return response

    def Stop(self, request: Any) -> Any:
        return self.pb.Stop.Response()


def _handlers(standin: StandIn) -> list[Any]:
    import grpc

    pb = standin.pb

    def unary(method: Callable[[Any], Any], request_type: Any) -> Any:
        def serialize(message: Any) -> bytes:
            return message if isinstance(message, bytes) else message.SerializeToString()

        return grpc.unary_unary_rpc_method_handler(
            lambda request, _context: method(request),
            request_deserializer=request_type.FromString,
            response_serializer=serialize,
        )

    requests = {
        "GetSchema": pb.GetProviderSchema.Request,
        "PrepareProviderConfig": pb.PrepareProviderConfig.Request,
        "ValidateResourceTypeConfig": pb.ValidateResourceTypeConfig.Request,
        "ValidateDataSourceConfig": pb.ValidateDataSourceConfig.Request,
        "Configure": pb.Configure.Request,
        "UpgradeResourceState": pb.UpgradeResourceState.Request,
        "ReadResource": pb.ReadResource.Request,
        "PlanResourceChange": pb.PlanResourceChange.Request,
        "ApplyResourceChange": pb.ApplyResourceChange.Request,
        "ImportResourceState": pb.ImportResourceState.Request,
        "MoveResourceState": pb.MoveResourceState.Request,
        "ReadDataSource": pb.ReadDataSource.Request,
        "Stop": pb.Stop.Request,
    }
    provider = {name: unary(getattr(standin, name), kind) for name, kind in requests.items()}

    def shutdown(_request: bytes, _context: Any) -> bytes:
        standin.stopped.set()
        return b""  # plugin.Empty

    controller = {
        "Shutdown": grpc.unary_unary_rpc_method_handler(
            shutdown, request_deserializer=bytes, response_serializer=bytes
        )
    }
    return [
        grpc.method_handlers_generic_handler("tfplugin5.Provider", provider),
        grpc.method_handlers_generic_handler("plugin.GRPCController", controller),
    ]


def _server_certificate() -> tuple[bytes, bytes, bytes]:
    """(certificate PEM, key PEM, certificate DER) for mutual TLS, made like go-plugin's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key_pem,
        certificate.public_bytes(serialization.Encoding.DER),
    )


def serve(schema_json: Path, environ: dict[str, str] | None = None) -> int:
    """Check the handshake environment, serve, print the handshake line, run until shut down."""
    import grpc

    from infra.standin import stubs

    env = os.environ if environ is None else environ
    if env.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print(
            "This is a Terraform provider plugin (a stand-in for hashicorp/google that only"
            " serves its schema); Terraform starts it, it is not meant to be run by hand.",
            file=sys.stderr,
        )
        return 1
    offered = env.get("PLUGIN_PROTOCOL_VERSIONS", str(APP_PROTOCOL_VERSION)).split(",")
    if str(APP_PROTOCOL_VERSION) not in offered:
        print(f"protocol 5 is not among the offered versions {offered}", file=sys.stderr)
        return 1
    standin = StandIn(stubs.load(), schema_json)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[
            ("grpc.max_send_message_length", 256 << 20),
            ("grpc.max_receive_message_length", 256 << 20),
        ],
    )
    server.add_generic_rpc_handlers(_handlers(standin))
    client_certificate = env.get("PLUGIN_CLIENT_CERT", "")
    certificate_field = ""
    if client_certificate:
        cert_pem, key_pem, cert_der = _server_certificate()
        # Terraform verifies this certificate. The other direction cannot be done here:
        # go-plugin's client certificate is ECDSA P-521, which gRPC's BoringSSL will not
        # verify, so a request for it makes Terraform send none and the handshake fail.
        credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)])
        port = server.add_secure_port("127.0.0.1:0", credentials)
        certificate_field = base64.b64encode(cert_der).decode().rstrip("=")
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    line = f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|tcp|127.0.0.1:{port}|grpc"
    sys.stdout.write(f"{line}|{certificate_field}\n" if certificate_field else f"{line}\n")
    sys.stdout.flush()
    parent = os.getppid()
    # Terraform stops its providers through Shutdown; should it die first, so does this.
    while not standin.stopped.wait(timeout=1.0):
        if os.getppid() != parent:
            break
    server.stop(grace=0.2)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schema", type=Path, required=True, help="the derived schema (JSON)")
    args = parser.parse_args(argv)
    return serve(args.schema)


if __name__ == "__main__":
    sys.exit(main())
