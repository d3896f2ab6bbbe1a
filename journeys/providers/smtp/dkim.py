"""DKIM signatures (RFC 6376) on what the SMTP adapter sends, and the keys they need.

HTTP ESPs sign with the domain set up in their dashboards; mail we hand to an SMTP relay is
ours to sign, or receivers see unsigned bulk mail (Gmail and Yahoo require DKIM of bulk
senders). Signing is rsa-sha256 with relaxed/relaxed canonicalization, which survives
relays re-folding headers and trimming trailing white space.

dkimpy canonicalizes, hashes and folds (the header is byte for byte what ``dkim.sign``
gives); only the RSA operation is OpenSSL's, with the key parsed once at start. dkimpy's
own RSA is pure Python: about 7 ms of CPU per message with a 2048-bit key, against under
1 ms this way, where the worker spends about 17 ms on a whole send.
"""

from __future__ import annotations

import base64

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import CanonicalizationPolicy

# What is signed, those present: everything a reader sees or a mailbox acts on. Not
# Received, Return-Path or anything a relay adds on the way.
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
)
# DNS: a TXT record is one or more strings of at most 255 bytes each (RFC 1035 3.3.14).
TXT_STRING_MAX = 255
MIN_BITS, MAX_BITS = 1024, 4096  # RFC 8301: at least 1024; 2048 is what receivers expect now


class DkimKeyError(ValueError):
    """The private key cannot be used; the message says why."""


class DkimSigner:
    """Signs each message for one domain and selector; the key is parsed once, here."""

    def __init__(self, key: rsa.RSAPrivateKey, *, domain: str, selector: str) -> None:
        self.domain, self.selector, self.key = domain, selector, key
        # dkimpy's sign() reads the key from a PEM before anything else (0.1 ms, its ASN.1
        # parser); written once here in the form it reads, whatever form we were given.
        self._pem = private_key_pem(key)

    @classmethod
    def from_pem(cls, pem: str | bytes, *, domain: str, selector: str) -> "DkimSigner":
        return cls(load_private_key(pem), domain=domain, selector=selector)

    def sign(self, message: bytes) -> bytes:
        """The ``DKIM-Signature: ...\\r\\n`` header line to put on top of ``message``."""
        signature = _Signature(message, self.key)
        present = {name.lower() for name, _ in signature.headers}  # bytes, as dkimpy parsed them
        names = [h.encode() for h in SIGNED_HEADERS if h.lower().encode() in present]
        # From once more than it appears (RFC 6376 8.15): a second From added on the way
        # breaks the signature instead of being shown to the reader.
        names.append(b"From")
        header = signature.sign(
            self.selector.encode(), self.domain.encode(), self._pem, canonicalize=(b"relaxed", b"relaxed"), include_headers=names
        )
        return bytes(header)


class _Signature(dkim.DKIM):
    """dkimpy's signing, with the RSA step (``gen_header``) done by OpenSSL."""

    def __init__(self, message: bytes, key: rsa.RSAPrivateKey) -> None:
        super().__init__(message, signature_algorithm=b"rsa-sha256")
        self._key = key

    def gen_header(
        self,
        fields: list[tuple[bytes, bytes]],
        include_headers: tuple[bytes, ...],
        canon_policy: CanonicalizationPolicy,
        header_name: bytes,
        pk: object,
        standardize: bool = False,
    ) -> bytes:
        # As dkimpy's DomainSigner.gen_header for rsa-sha256 (fold, hash the headers and
        # the signature header with an empty b=, sign, fold again), but the RSA by OpenSSL.
        # tests/journeys/providers/smtp/test_dkim.py holds the result to dkim.sign's, byte
        # for byte, so a dkimpy release that changes these helpers is caught there.
        header_value = dkim.fold(b"; ".join(b"=".join(x) for x in fields), namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        hashed = dkim.HashThrough(self.hasher())
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(
            hashed, canon_policy, headers, include_headers, (header_name, b" " + header_value), dict(fields)
        )
        signature = self._key.sign(hashed.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        fields = [(b"b", base64.b64encode(signature)) if name == b"b" else (name, value) for name, value in fields]
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        return bytes(dkim.fold(header_value, namelen=len(header_name), linesep=self.linesep))


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM text (PKCS#1 or PKCS#8, unencrypted)."""
    data = pem.encode() if isinstance(pem, str) else pem
    if b"\n" not in data.strip() and b"\\n" in data:
        # A PEM put in one environment variable line often arrives with literal \n.
        data = data.replace(b"\\n", b"\n")
    try:
        key = serialization.load_pem_private_key(data.strip() + b"\n", password=None)
    except (ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DkimKeyError(f"not an unencrypted PEM private key ({reason})") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        # ed25519-sha256 (RFC 8463) is not verified by enough receivers to sign with it alone.
        raise DkimKeyError("not an RSA key; DKIM here signs with rsa-sha256, which every receiver verifies")
    if not MIN_BITS <= key.key_size <= MAX_BITS:
        raise DkimKeyError(f"an RSA key of {key.key_size} bits; receivers want {MIN_BITS} to {MAX_BITS} (2048 is usual)")
    return key


def generate_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    if not MIN_BITS <= bits <= MAX_BITS:
        raise DkimKeyError(f"--bits {bits}: choose {MIN_BITS} to {MAX_BITS} (2048 is usual)")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    # PKCS#1 ("BEGIN RSA PRIVATE KEY"), as opendkim-genkey writes: every DKIM tool reads it.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())


def dns_record_value(key: rsa.RSAPrivateKey) -> str:
    """The TXT record's text: ``v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo, base64>``."""
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(spki).decode()}"


def dns_record(key: rsa.RSAPrivateKey, *, selector: str, domain: str) -> str:
    """A zone-file line: ``S._domainkey.D. IN TXT "..." "..."``, the value cut into strings
    of at most 255 characters, which DNS joins back into one."""
    value = dns_record_value(key)
    strings = " ".join(f'"{value[i : i + TXT_STRING_MAX]}"' for i in range(0, len(value), TXT_STRING_MAX))
    return f"{selector}._domainkey.{domain.rstrip('.')}. IN TXT {strings}"

