"""The sandbox's certificates and kubeconfig: a CA generated once per state dir, a serving
certificate for 127.0.0.1/localhost, an admin client certificate (O=system:masters) and an admin
bearer token, so both of kubectl's usual auth methods work."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import yaml


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())


def _pem_cert(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str, org: str | None = None):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def ensure_pki(pki_dir: Path) -> dict[str, Path]:
    """Create (once) and return paths: ca.crt, ca.key, server.crt, server.key, admin.crt, admin.key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from tripgen_sandbox.private import private_dir, write_private

    private_dir(pki_dir)
    paths = {n: pki_dir / n for n in ("ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key")}
    if all(p.exists() for p in paths.values()):
        return paths
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    later = now + dt.timedelta(days=3650)
    ca_key = _key()
    ca_name = _name("tripgen-sandbox-ca")
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, org: str | None, server: bool):
        key = _key()
        b = (
            x509.CertificateBuilder().subject_name(_name(cn, org)).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        if server:
            b = b.add_extension(
                x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
                    x509.DNSName("kubernetes.default.svc"), x509.DNSName("kubernetes.default.svc.cluster.local"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]),
                critical=False,
            )
        return key, b.sign(ca_key, hashes.SHA256())

    skey, scert = leaf("kube-apiserver", None, True)
    akey, acert = leaf("sandbox-admin", "system:masters", False)
    for path, data in (
        (paths["ca.crt"], _pem_cert(ca)), (paths["ca.key"], _pem_key(ca_key)),
        (paths["server.crt"], _pem_cert(scert)), (paths["server.key"], _pem_key(skey)),
        (paths["admin.crt"], _pem_cert(acert)), (paths["admin.key"], _pem_key(akey)),
    ):
        if path.suffix == ".key":
            write_private(path, data)
        else:
            path.write_bytes(data)
    return paths


def write_kubeconfig(path: Path, server: str, pki: dict[str, Path], token: str, context: str = "tripgen-sandbox", namespace: str = "tripgen-dev") -> None:
    """Two users: token (default context) and client certificate (context <name>-cert)."""
    import base64

    b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": b64(pki["ca.crt"])}}],
        "users": [
            {"name": f"{context}-admin", "user": {"token": token}},
            {"name": f"{context}-admin-cert", "user": {"client-certificate-data": b64(pki["admin.crt"]), "client-key-data": b64(pki["admin.key"])}},
        ],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": f"{context}-admin", "namespace": namespace}},
            {"name": f"{context}-cert", "context": {"cluster": context, "user": f"{context}-admin-cert", "namespace": namespace}},
        ],
        "current-context": context,
        "preferences": {},
    }
    from tripgen_sandbox.private import write_private

    write_private(path, yaml.safe_dump(doc, sort_keys=False))
