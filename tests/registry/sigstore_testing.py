"""A private, offline Sigstore for tests: a Fulcio-like CA, a CT log and a Rekor log, all keys made here.

``TestSigstore.sign`` produces a real Sigstore bundle (v0.3: leaf certificate with an embedded SCT, a
hashedrekord 0.0.1 log entry with a signed inclusion promise and a signed checkpoint), and
``trusted_root_json`` the trusted root that makes sigstore-python accept it, with no network at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from datetime import UTC, datetime, timedelta

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

SCT_LIST_OID = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
OIDC_ISSUER_V1_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
REKOR_ORIGIN = "rekor.hivekeeper.test"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _der_octet_string(data: bytes) -> bytes:
    return b"\x04" + _der_length(len(data)) + data


def _der_utf8(text: str) -> bytes:
    data = text.encode()
    return b"\x0c" + _der_length(len(data)) + data


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


class TestSigstore:
    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hivekeeper-test"),
                x509.NameAttribute(NameOID.COMMON_NAME, "hivekeeper test fulcio"),
            ]
        )
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )

    @property
    def rekor_log_id(self) -> bytes:
        return hashlib.sha256(_spki(self.rekor_key.public_key())).digest()

    @property
    def ct_log_id(self) -> bytes:
        return hashlib.sha256(_spki(self.ct_key.public_key())).digest()

    def trusted_root_json(self) -> str:
        def log(key: ec.EllipticCurvePrivateKey, log_id: bytes, url: str) -> dict[str, object]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(_spki(key.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": b64(log_id)},
            }

        return json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [log(self.rekor_key, self.rekor_log_id, "https://rekor.hivekeeper.invalid")],
                "certificateAuthorities": [
                    {
                        "subject": {"organization": "hivekeeper-test", "commonName": "hivekeeper test fulcio"},
                        "uri": "https://fulcio.hivekeeper.invalid",
                        "certChain": {
                            "certificates": [{"rawBytes": b64(self.ca_cert.public_bytes(serialization.Encoding.DER))}]
                        },
                        "validFor": {"start": "2020-01-01T00:00:00Z"},
                    }
                ],
                "ctlogs": [log(self.ct_key, self.ct_log_id, "https://ctfe.hivekeeper.invalid")],
                "timestampAuthorities": [],
            }
        )

    def _leaf(self, identity: str, issuer: str, now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=True)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V1_OID, issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V2_OID, _der_utf8(issuer)), critical=False)
        )
        # The CT log signs the certificate without its SCT list (the "precertificate" TBS, RFC 6962).
        precert = builder.sign(self.ca_key, hashes.SHA256())
        timestamp = int(now.timestamp() * 1000)
        tbs = precert.tbs_certificate_bytes
        issuer_key_hash = hashlib.sha256(_spki(self.ca_key.public_key())).digest()
        signed_entry = issuer_key_hash + len(tbs).to_bytes(3, "big") + tbs
        digitally_signed = struct.pack("!BBQH", 0, 0, timestamp, 1) + signed_entry + struct.pack("!H", 0)
        signature = _sign(self.ct_key, digitally_signed)
        sct = (
            struct.pack("!B32sQH", 0, self.ct_log_id, timestamp, 0)
            + struct.pack("!BBH", 4, 3, len(signature))
            + signature
        )
        sct_list = struct.pack("!HH", len(sct) + 2, len(sct)) + sct
        certificate = builder.add_extension(
            x509.UnrecognizedExtension(SCT_LIST_OID, _der_octet_string(sct_list)), critical=False
        ).sign(self.ca_key, hashes.SHA256())
        assert certificate.tbs_precertificate_bytes == tbs
        return key, certificate

    def sign(self, artifact: bytes, *, identity: str, issuer: str) -> str:
        """A Sigstore bundle (JSON) for ``artifact`` signed as ``identity`` from OIDC ``issuer``."""
        now = datetime.now(UTC).replace(microsecond=0)
        key, certificate = self._leaf(identity, issuer, now)
        signature = _sign(key, artifact)
        digest = hashlib.sha256(artifact).digest()
        cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
        body = json.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                    "signature": {"content": b64(signature), "publicKey": {"content": b64(cert_pem)}},
                },
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        integrated_time = int(now.timestamp())
        promise = rfc8785.dumps(
            {"body": b64(body), "integratedTime": integrated_time, "logID": self.rekor_log_id.hex(), "logIndex": 0}
        )
        root = hashlib.sha256(b"\x00" + body).digest()  # a one-leaf Merkle tree
        note = f"{REKOR_ORIGIN}\n1\n{b64(root)}\n"
        note_signature = b64(self.rekor_log_id[:4] + _sign(self.rekor_key, note.encode()))
        checkpoint = f"{note}\n\u2014 {REKOR_ORIGIN} {note_signature}\n"
        return json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "verificationMaterial": {
                    "certificate": {"rawBytes": b64(certificate.public_bytes(serialization.Encoding.DER))},
                    "tlogEntries": [
                        {
                            "logIndex": "0",
                            "logId": {"keyId": b64(self.rekor_log_id)},
                            "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                            "integratedTime": str(integrated_time),
                            "inclusionPromise": {"signedEntryTimestamp": b64(_sign(self.rekor_key, promise))},
                            "inclusionProof": {
                                "logIndex": "0",
                                "rootHash": b64(root),
                                "treeSize": "1",
                                "hashes": [],
                                "checkpoint": {"envelope": checkpoint},
                            },
                            "canonicalizedBody": b64(body),
                        }
                    ],
                },
                "messageSignature": {
                    "messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                    "signature": b64(signature),
                },
            }
        )
