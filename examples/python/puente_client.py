#!/usr/bin/env python3
"""An independent Puente client, written against the contract alone.

It uses the standard Python gRPC library (grpcio) and stubs generated from
proto/puente/v1/*.proto by grpcio-tools at start-up, into a temporary directory
(nothing generated is kept or committed). It shares no code with the Rust
implementation: if it works, the contract in proto/ is enough to talk to a node.

    python3 puente_client.py --addr 127.0.0.1:7400 --ca ca.pem \\
        --cert operator-ana.pem --key operator-ana.key peers [--check]
    ... query --peer GTM --purpose identification --case EXP-1 \\
        --given-names "MUHAMMAD ABDUL" --surnames HUSAIN --birth-date 1990-04
    ... query --peer GTM --purpose identification --document BX1234567 --issuer BGD
    ... fetch --peer GTM --purpose identification --reference REF --out copy.png
    (auditor certificate) ... audit-list [--peer GTM] [--decision refused]

Output is JSON lines on stdout (one object per line, with a "type" key). A refusal
or failure prints "puente_client: <gRPC status code>: <message>" on stderr and exits
with status 1; bad flags or unreadable files exit with status 2.
"""

import argparse
import hashlib
import importlib
import json
import os
import sys
import tempfile

# gRPC's C core logs to stderr; keep it to errors so the output stays readable.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

DEFAULT_PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
PROTO_FILES = ["common", "local", "audit", "exchange"]


class UsageError(Exception):
    """Bad flags or unreadable input files (exit status 2)."""


class IntegrityError(Exception):
    """An answer that does not hold together (exit status 1)."""


def leaf_of(encoded: bytes) -> bytes:
    """The RFC 6962 leaf hash of an audit entry's canonical bytes. A version 2 entry
    (magic PAE\x02) starts with the request and response digests; its leaf data is the
    magic, those two digests and the SHA-256 of the rest, so a counterpart can check a
    receipt against its own request. A version 1 entry is its own leaf data."""
    if encoded[:4] == b"PAE\x02" and len(encoded) >= 68:
        data = encoded[:68] + hashlib.sha256(encoded[68:]).digest()
    else:
        data = encoded
    return hashlib.sha256(b"\x00" + data).digest()


def import_grpc():
    try:
        import grpc  # noqa: F401
        from grpc_tools import protoc  # noqa: F401
    except ImportError as e:
        sys.exit(
            f"puente_client: {e}; install the pinned libraries with "
            "`python3 -m pip install -r examples/python/requirements.txt`"
        )


def generate_stubs(proto_dir, out_dir):
    """Runs grpcio-tools' bundled protoc on the contract; returns the pb2 modules."""
    from grpc_tools import protoc

    try:
        from importlib.resources import files

        well_known = str(files("grpc_tools") / "_proto")
    except (ImportError, TypeError):
        import pkg_resources

        well_known = pkg_resources.resource_filename("grpc_tools", "_proto")
    sources = [os.path.join(proto_dir, "puente", "v1", f"{name}.proto") for name in PROTO_FILES]
    for source in sources:
        if not os.path.isfile(source):
            raise UsageError(f"--proto {proto_dir}: {source} not found")
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise UsageError(f"protoc could not compile the contract in {proto_dir}")
    sys.path.insert(0, out_dir)
    return {
        name: (
            importlib.import_module(f"puente.v1.{name}_pb2"),
            importlib.import_module(f"puente.v1.{name}_pb2_grpc"),
        )
        for name in PROTO_FILES
    }


def read_pem(path, flag):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"{flag} {path}: {e.strerror}") from e
    if b"-----BEGIN " not in data:
        raise UsageError(f"{flag} {path}: not a PEM file")
    return data


def short(enum_type, number):
    """The contract's enum value name without its type prefix, in lower case
    (MATCH_OUTCOME_MATCH -> "match"); unknown numbers stay numbers."""
    prefix = enum_type.DESCRIPTOR.values_by_number[0].name[: -len("UNSPECIFIED")]
    try:
        name = enum_type.Name(number)
    except ValueError:
        return number
    return name[len(prefix):].lower()


def by_short(enum_type, text, flag):
    """The enum number for a short name given on the command line."""
    prefix = enum_type.DESCRIPTOR.values_by_number[0].name[: -len("UNSPECIFIED")]
    names = [v.name[len(prefix):].lower() for v in enum_type.DESCRIPTOR.values if v.number != 0]
    if text.lower() not in names:
        raise UsageError(f"{flag} {text!r} is not one of {', '.join(names)}")
    return enum_type.Value(prefix + text.upper())


def timestamp(ts, present=True):
    return ts.ToJsonString() if present else None


def emit(obj):
    print(json.dumps(obj, ensure_ascii=False, sort_keys=False), flush=True)


class Client:
    def __init__(self, args, pb):
        import grpc

        self.grpc = grpc
        self.pb = pb
        self.common = pb["common"][0]
        self.timeout = args.timeout
        creds = grpc.ssl_channel_credentials(
            root_certificates=read_pem(args.ca, "--ca"),
            private_key=read_pem(args.key, "--key"),
            certificate_chain=read_pem(args.cert, "--cert"),
        )
        options = []
        if args.server_name:
            # The name checked against the node certificate's DNS/IP SANs, when the
            # address dialled is not one the certificate names.
            options.append(("grpc.ssl_target_name_override", args.server_name))
        self.channel = grpc.secure_channel(args.addr, creds, options=options)

    def local(self):
        return self.pb["local"][1].LocalStub(self.channel)

    def audit(self):
        return self.pb["audit"][1].AuditStub(self.channel)

    def context(self, args):
        c = self.common
        return c.RequestContext(
            purpose=by_short(c.Purpose, args.purpose, "--purpose"),
            case_reference=args.case,
        )

    # -- Local.ListPeers ---------------------------------------------------------------

    def peers(self, args):
        local = self.pb["local"][0]
        r = self.local().ListPeers(
            local.ListPeersRequest(check_reachability=args.check), timeout=self.timeout
        )
        emit({"type": "node", "country": r.local_country, "node": r.local_node})
        for p in r.peers:
            emit(
                {
                    "type": "peer",
                    "country": p.country,
                    "address": p.address,
                    "reachable": p.reachable,
                    "error": p.error,
                    "peer_node": p.peer_node,
                    "round_trip_ms": (
                        p.round_trip.ToMilliseconds() if p.HasField("round_trip") else None
                    ),
                    "ca_fingerprint": p.ca_fingerprint,
                    "signing_key_fingerprint": p.signing_key_fingerprint,
                    "certificate_not_after": timestamp(
                        p.certificate_not_after, p.HasField("certificate_not_after")
                    ),
                    "checked_at": timestamp(p.checked_at, p.HasField("checked_at")),
                }
            )

    # -- Local.Query -------------------------------------------------------------------

    def identity_query(self, args):
        c = self.common
        kinds = [
            args.document is not None,
            args.mrz is not None,
            args.given_names is not None or args.surnames is not None,
        ]
        if sum(kinds) != 1:
            raise UsageError(
                "say who to look for in exactly one way: --document N --issuer S, "
                "--mrz LINE1 LINE2, or --given-names/--surnames with --birth-date"
            )
        if args.document is not None:
            if not args.issuer:
                raise UsageError("--document needs --issuer (alpha-3)")
            return c.IdentityQuery(
                document=c.DocumentTerms(
                    document_number=args.document,
                    issuing_state=args.issuer.upper(),
                    document_type=by_short(c.DocumentType, args.document_type, "--document-type"),
                )
            )
        if args.mrz is not None:
            return c.IdentityQuery(mrz=c.MrzTerms(line1=args.mrz[0], line2=args.mrz[1]))
        name = c.NameTerms(
            given_names=args.given_names or "",
            surnames=args.surnames or "",
            nationality=(args.nationality or "").upper(),
        )
        if args.birth_date:
            parts = args.birth_date.split("-")
            try:
                numbers = [int(p) for p in parts]
            except ValueError:
                numbers = []
            if not 1 <= len(numbers) <= 3:
                raise UsageError(
                    f"--birth-date {args.birth_date!r}: use YYYY, YYYY-MM or YYYY-MM-DD"
                )
            numbers += [0] * (3 - len(numbers))
            name.date_of_birth.year, name.date_of_birth.month, name.date_of_birth.day = numbers
        return c.IdentityQuery(name=name)

    def query(self, args):
        c, local = self.common, self.pb["local"][0]
        request = local.QueryRequest(
            peer_country=args.peer.upper(),
            context=self.context(args),
            query=self.identity_query(args),
            max_matches=args.max_matches,
        )
        r = self.local().Query(request, timeout=self.timeout)
        emit(
            {
                "type": "answer",
                "peer": r.peer_country,
                "outcome": short(c.MatchOutcome, r.outcome),
                "mode": short(c.Mode, r.mode),
                "agreement_id": r.agreement_id,
                "retention_days": r.retention_days,
                "disclosed_fields": [short(c.DisclosableField, f) for f in r.disclosed_fields],
                "receipt_verified": r.receipt_verified,
                "audit_index": r.audit_index,
                "matches": len(r.matches),
            }
        )
        for m in r.matches:
            emit(
                {
                    "type": "match",
                    "reference": m.reference,
                    "score": m.score_permille / 1000.0,
                    "person": self.person(m.person) if m.HasField("person") else None,
                }
            )

    def person(self, p):
        """The disclosed fields only: a field the peer did not send is absent."""
        c = self.common
        out = {}
        for field in ("given_names", "surnames", "nationality", "document_number",
                      "issuing_state", "last_encounter_place", "passport_copy_available"):
            if p.HasField(field):
                out[field] = getattr(p, field)
        for field in ("date_of_birth", "document_expiry", "last_encounter_date"):
            if p.HasField(field):
                d = getattr(p, field)
                out[field] = "-".join(
                    f"{n:02d}" if i else f"{n:04d}"
                    for i, n in enumerate((d.year, d.month, d.day))
                    if n
                )
        if p.HasField("sex"):
            out["sex"] = short(c.Sex, p.sex)
        if p.HasField("document_type"):
            out["document_type"] = short(c.DocumentType, p.document_type)
        if p.HasField("last_encounter_event"):
            out["last_encounter_event"] = short(c.EncounterEvent, p.last_encounter_event)
        if p.route:
            out["route"] = list(p.route)
        if p.vulnerability_flags:
            out["vulnerability_flags"] = [short(c.Vulnerability, v) for v in p.vulnerability_flags]
        return out

    # -- Local.FetchDocument (server streaming) ----------------------------------------

    def fetch(self, args):
        c, local = self.common, self.pb["local"][0]
        if os.path.exists(args.out):
            raise UsageError(f"--out {args.out} already exists; refusing to overwrite it")
        request = local.FetchDocumentRequest(
            peer_country=args.peer.upper(),
            context=self.context(args),
            reference=args.reference,
        )
        header, trailer, chunks = None, None, []
        for message in self.local().FetchDocument(request, timeout=self.timeout):
            part = message.WhichOneof("part")
            if part == "header":
                if header is not None or chunks:
                    raise IntegrityError("the stream sent a second or late header")
                header = message.header
            elif part == "chunk":
                if header is None or trailer is not None:
                    raise IntegrityError("the stream sent bytes outside header..trailer")
                chunks.append(message.chunk)
            elif part == "trailer":
                trailer = message.trailer
        if header is None or trailer is None:
            raise IntegrityError("the stream ended without its header or trailer")
        data = b"".join(chunks)
        digest = hashlib.sha256(data).digest()
        # Checked here, independently of the node's own check in the trailer.
        if len(data) != header.size_bytes or digest != header.sha256:
            raise IntegrityError(
                f"document discarded: {len(data)} bytes with SHA-256 {digest.hex()}, "
                f"but the header announced {header.size_bytes} bytes with SHA-256 "
                f"{header.sha256.hex()}"
            )
        if not trailer.sha256_verified:
            raise IntegrityError("document discarded: the node's trailer says sha256_verified=false")
        # A passport copy is personal data: readable by its owner only.
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        emit(
            {
                "type": "document",
                "out": args.out,
                "media_type": header.media_type,
                "size_bytes": len(data),
                "sha256": digest.hex(),
                "sha256_verified": True,
                "document_type": short(c.DocumentType, header.document_type),
                "issuing_state": header.issuing_state,
                "agreement_id": header.agreement_id,
                "retention_days": header.retention_days,
                "receipt_verified": trailer.receipt_verified,
                "audit_index": trailer.audit_index,
            }
        )

    # -- Audit.ListEntries -------------------------------------------------------------

    def audit_list(self, args):
        c, audit = self.common, self.pb["audit"][0]
        request = audit.ListEntriesRequest(
            peer_country=(args.peer or "").upper(),
            actor=args.actor or "",
            start_index=args.start,
            page_size=args.page_size,
        )
        if args.service:
            request.service = by_short(c.Service, args.service, "--service")
        if args.decision:
            request.decision = by_short(c.Decision, args.decision, "--decision")
        if args.direction:
            request.direction = by_short(c.Direction, args.direction, "--direction")
        stub, listed = self.audit(), 0
        while True:
            page = stub.ListEntries(request, timeout=self.timeout)
            for e in page.entries:
                # RFC 6962 leaf hash, recomputed from the canonical bytes.
                leaf_ok = leaf_of(e.encoded) == e.leaf_hash
                emit(
                    {
                        "type": "entry",
                        "index": e.index,
                        "time": timestamp(e.time, e.HasField("time")),
                        "direction": short(c.Direction, e.direction),
                        "peer": e.peer_country,
                        "actor": e.actor,
                        "service": short(c.Service, e.service),
                        "purpose": short(c.Purpose, e.purpose),
                        "case_reference": e.case_reference,
                        "agreement_id": e.agreement_id,
                        "decision": short(c.Decision, e.decision),
                        "rule": e.rule,
                        "reason": e.reason,
                        "disclosed_fields": [short(c.DisclosableField, f) for f in e.disclosed_fields],
                        "leaf_hash": e.leaf_hash.hex(),
                        "leaf_hash_verified": leaf_ok,
                        "counterpart_receipt": e.HasField("counterpart_receipt"),
                    }
                )
                if not leaf_ok:
                    raise IntegrityError(
                        f"entry {e.index}: leaf_hash does not match the entry's bytes"
                    )
                listed += 1
                if args.limit and listed >= args.limit:
                    return
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token


def parser():
    p = argparse.ArgumentParser(
        prog="puente_client.py",
        description="An independent Python client of a Puente node (Local and Audit services).",
    )
    p.add_argument("--addr", required=True, help="node address, host:port")
    p.add_argument("--ca", required=True, help="the node's country CA certificate (PEM)")
    p.add_argument("--cert", required=True, help="client certificate: operator or auditor (PEM)")
    p.add_argument("--key", required=True, help="its private key (PEM)")
    p.add_argument(
        "--server-name",
        help="name to check the node certificate against, when --addr is not a host "
        "name or IP address the certificate carries (grpc.ssl_target_name_override)",
    )
    p.add_argument("--proto", default=DEFAULT_PROTO_DIR, help="directory holding puente/v1/*.proto")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline per call, seconds")
    sub = p.add_subparsers(dest="command", required=True)

    peers = sub.add_parser("peers", help="Local.ListPeers (operator certificate)")
    peers.add_argument("--check", action="store_true", help="dial every peer now")

    def exchange_flags(s):
        s.add_argument("--peer", required=True, help="peer country, alpha-3")
        s.add_argument("--purpose", default="identification", help="e.g. identification, return")
        s.add_argument("--case", required=True, help="case file reference (required: both audit logs record it)")

    q = sub.add_parser("query", help="Local.Query (operator certificate)")
    exchange_flags(q)
    q.add_argument("--given-names", "--given")
    q.add_argument("--surnames", "--surname")
    q.add_argument("--birth-date", "--year", help="YYYY, YYYY-MM or YYYY-MM-DD")
    q.add_argument("--nationality")
    q.add_argument("--document", help="document number")
    q.add_argument("--issuer", help="issuing state of --document, alpha-3")
    q.add_argument("--document-type", default="passport")
    q.add_argument("--mrz", nargs=2, metavar=("LINE1", "LINE2"))
    q.add_argument("--max-matches", type=int, default=0)

    f = sub.add_parser("fetch", help="Local.FetchDocument (operator certificate)")
    exchange_flags(f)
    f.add_argument("--reference", required=True, help="a match reference from query")
    f.add_argument("--out", required=True, help="file to write (never overwritten)")

    a = sub.add_parser("audit-list", help="Audit.ListEntries (auditor certificate)")
    a.add_argument("--peer")
    a.add_argument("--service", help="e.g. identity_query, passport_copy")
    a.add_argument("--decision", help="allowed, refused or withheld")
    a.add_argument("--direction", help="incoming or outgoing")
    a.add_argument("--actor")
    a.add_argument("--start", type=int, default=0, help="first index")
    a.add_argument("--page-size", type=int, default=100)
    a.add_argument("--limit", type=int, default=0, help="most entries to list; 0 = all")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    import_grpc()
    import grpc

    try:
        with tempfile.TemporaryDirectory(prefix="puente-stubs-") as stubs:
            client = Client(args, generate_stubs(os.path.abspath(args.proto), stubs))
            try:
                {
                    "peers": client.peers,
                    "query": client.query,
                    "fetch": client.fetch,
                    "audit-list": client.audit_list,
                }[args.command](args)
            finally:
                client.channel.close()
    except grpc.RpcError as e:
        print(f"puente_client: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except IntegrityError as e:
        print(f"puente_client: INTEGRITY: {e}", file=sys.stderr)
        return 1
    except UsageError as e:
        print(f"puente_client: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
