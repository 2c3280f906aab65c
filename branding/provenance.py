"""The mandatory tag inside every delivered file: EXIF, XMP, PNG text and a signed C2PA manifest.

Social apps strip metadata, so the overlay also paints the tag into the pixels and
``branding.watermark`` hides a mark id in them; this module is the machine-readable half. The
manifest names that mark in a ``c2pa.soft-binding`` assertion (C2PA 2.x §"Soft binding"), so a
reader can go from the manifest to the pixels' mark and, when the metadata is gone, from the
mark back to Cradle's record of the file. `read_provenance` reads a file back with readers that
share no code with the writer (Pillow for EXIF/PNG text, a hand-walked segment parser plus
xml.etree for XMP, the c2pa Reader for the manifest), so a test that passes proves the bytes, not
our own bookkeeping.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import io
import json
import os
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image, PngImagePlugin, TiffImagePlugin

from branding.watermark import ALGORITHM as WATERMARK_ALGORITHM
from branding.watermark import MARK_ID_BITS

TAG_TEXT = "Artistic interpretation · Not a medical prediction"
# EXIF's ImageDescription is ASCII by the standard: the tag there says "-" for the middle dot.
TAG_TEXT_ASCII = TAG_TEXT.replace("·", "-")
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SOFTWARE_NAME = "Cradle"

_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131
_EXIF_ARTIST = 0x013B
_EXIF_IFD = 0x8769
_EXIF_X_RESOLUTION = 0x011A
_EXIF_Y_RESOLUTION = 0x011B
_EXIF_RESOLUTION_UNIT = 0x0128  # 2: inches
_EXIF_USER_COMMENT = 0x9286  # in the Exif IFD: 8 bytes naming the charset, then the text
_USER_COMMENT_UNICODE = b"UNICODE\x00"

_MIME_BY_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
}
_JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ProvenanceError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Signing material
# --------------------------------------------------------------------------------------------


class C2paSigner:
    """Certificate chain (leaf first, PEM) and private key (PEM) for signing C2PA manifests.

    Holds only bytes; a native c2pa.Signer is built per signature because native signers are
    consumed/closed by the library and are not safe to share between worker threads.
    """

    def __init__(
        self,
        cert_chain_pem: bytes,
        private_key_pem: bytes,
        *,
        alg: c2pa.C2paSigningAlg = c2pa.C2paSigningAlg.ES256,
    ) -> None:
        if b"BEGIN CERTIFICATE" not in cert_chain_pem:
            raise ProvenanceError("The C2PA certificate chain is not PEM")
        if b"PRIVATE KEY" not in private_key_pem:
            raise ProvenanceError("The C2PA private key is not PEM")
        self.cert_chain_pem = cert_chain_pem
        self.private_key_pem = private_key_pem
        self.alg = alg

    @classmethod
    def from_files(cls, cert_chain_path: Path | str, key_path: Path | str) -> C2paSigner:
        """Production material from settings (e.g. C2PA_CERT_CHAIN_FILE / C2PA_KEY_FILE)."""
        chain = Path(cert_chain_path).read_bytes()
        key = Path(key_path).read_bytes()
        alg = _alg_for_key(key)
        return cls(chain, key, alg=alg)

    def identity(self) -> tuple[str, str]:
        """(issuer organisation, serial number) of the signing certificate, as C2PA readers
        report a manifest's ``signature_info``: how a reader tells Cradle's manifests apart."""
        leaf = x509.load_pem_x509_certificates(self.cert_chain_pem)[0]
        organisations = leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return (str(organisations[0].value) if organisations else "", str(leaf.serial_number))

    def native_signer(self) -> c2pa.Signer:
        info = c2pa.C2paSignerInfo(
            self.alg, self.cert_chain_pem, self.private_key_pem, None
        )  # ta_url=None: signing works offline; no timestamp authority is contacted.
        return c2pa.Signer.from_info(info)

    def __repr__(self) -> str:  # never print key material in logs
        return f"C2paSigner(alg={self.alg.name})"


def _alg_for_key(key_pem: bytes) -> c2pa.C2paSigningAlg:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {
            "secp256r1": c2pa.C2paSigningAlg.ES256,
            "secp384r1": c2pa.C2paSigningAlg.ES384,
            "secp521r1": c2pa.C2paSigningAlg.ES512,
        }[key.curve.name]
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    if isinstance(key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    raise ProvenanceError(f"Unsupported C2PA key type {type(key).__name__}")


_DEV_CA_CERT = "dev-ca.pem"
_DEV_CA_KEY = "dev-ca.key"
_DEV_CHAIN = "dev-signer-chain.pem"
_DEV_KEY = "dev-signer.key"
# Renew a little before expiry so a long-running worker never signs with an expired leaf.
_RENEW_BEFORE = dt.timedelta(days=7)


def ensure_dev_signing_material(directory: Path) -> C2paSigner:
    """A local CA and an EC P-256 signing leaf, generated once into `directory`, reused after.

    Readers report such manifests as "untrusted" (the CA is in no trust list) — expected in
    development. A file lock makes two workers starting together agree on one key pair.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        chain_path, key_path = directory / _DEV_CHAIN, directory / _DEV_KEY
        if not (chain_path.exists() and key_path.exists() and _leaf_still_valid(chain_path)):
            _generate_dev_material(directory)
        return C2paSigner.from_files(chain_path, key_path)


def _leaf_still_valid(chain_path: Path) -> bool:
    try:
        leaf = x509.load_pem_x509_certificates(chain_path.read_bytes())[0]
    except ValueError:
        return False
    return leaf.not_valid_after_utc - _RENEW_BEFORE > dt.datetime.now(dt.UTC)


def _generate_dev_material(directory: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cradle development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Cradle development C2PA root"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cradle development"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Cradle development signer"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
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
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    private = dict(
        encoding=pem,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    _write_atomically(directory / _DEV_CA_CERT, ca_cert.public_bytes(pem), mode=0o644)
    _write_atomically(directory / _DEV_CA_KEY, ca_key.private_bytes(**private), mode=0o600)
    _write_atomically(
        directory / _DEV_CHAIN, leaf_cert.public_bytes(pem) + ca_cert.public_bytes(pem), mode=0o644
    )
    _write_atomically(directory / _DEV_KEY, leaf_key.private_bytes(**private), mode=0o600)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


# --------------------------------------------------------------------------------------------
# Writing the tag
# --------------------------------------------------------------------------------------------


def _xmp_packet(*, artist: str | None) -> bytes:
    creator = (
        f"<dc:creator><rdf:Seq><rdf:li>{escape(artist)}</rdf:li></rdf:Seq></dc:creator>"
        if artist
        else ""
    )
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(TAG_TEXT)}</rdf:li>'
        "</rdf:Alt></dc:description>"
        f"{creator}"
        f"<xmp:CreatorTool>{SOFTWARE_NAME}</xmp:CreatorTool>"
        f"<Iptc4xmpExt:DigitalSourceType>{TRAINED_ALGORITHMIC_MEDIA}"
        "</Iptc4xmpExt:DigitalSourceType>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


SOFT_BINDING_LABEL = "c2pa.soft-binding"
_MARK_ID_BYTES = (MARK_ID_BITS + 7) // 8


def _soft_binding_assertion(mark_id: int) -> dict:
    """The soft binding to the pixels' watermark: the algorithm's name and, over the whole
    picture (an empty scope), the mark id as big-endian bytes (a CBOR byte string)."""
    return {
        "label": SOFT_BINDING_LABEL,
        "data": {
            "alg": WATERMARK_ALGORITHM,
            "blocks": [{"scope": {}, "value": list(mark_id.to_bytes(_MARK_ID_BYTES, "big"))}],
            "name": "Cradle's invisible watermark: the file's mark id, looked up at /verify/",
        },
    }


def _c2pa_manifest(*, title: str, mark_id: int | None = None) -> dict:
    soft_binding = [_soft_binding_assertion(mark_id)] if mark_id is not None else []
    return {
        "claim_generator_info": [{"name": SOFTWARE_NAME, "version": "1"}],
        "title": title,
        "assertions": soft_binding
        + [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {"name": SOFTWARE_NAME},
                            "description": TAG_TEXT,
                        }
                    ]
                },
            }
        ],
    }


def encode_with_tag(
    image: Image.Image,
    *,
    fmt: str = "JPEG",
    artist: str | None = None,
    quality: int = 90,
    dpi: int | None = None,
) -> bytes:
    """Encode with EXIF, XMP and (PNG) text chunks carrying the tag; no C2PA manifest yet.

    ``dpi`` is written to JFIF/pHYs and EXIF alike (a print file says 300; without it readers
    assume 72 and a print shop sizes the picture wrongly)."""
    fmt = fmt.upper()
    if fmt not in _MIME_BY_FORMAT:
        raise ProvenanceError(f"Unsupported delivery format {fmt!r}")
    image = _delivery_mode(image, fmt)
    exif = Image.Exif()
    # ImageDescription is ASCII: UTF-8 bytes written there read "Â·" in most readers. The exact
    # text goes in UserComment, whose charset header says UCS-2 (in the file's byte order,
    # big-endian as Pillow writes EXIF), as the EXIF standard provides for non-ASCII text.
    exif[_EXIF_IMAGE_DESCRIPTION] = TAG_TEXT_ASCII
    exif.get_ifd(_EXIF_IFD)[_EXIF_USER_COMMENT] = _USER_COMMENT_UNICODE + TAG_TEXT.encode(
        "utf-16-be"
    )
    exif[_EXIF_SOFTWARE] = SOFTWARE_NAME
    if artist:
        exif[_EXIF_ARTIST] = artist
    density: dict[str, tuple[int, int]] = {}
    if dpi:
        exif[_EXIF_X_RESOLUTION] = exif[_EXIF_Y_RESOLUTION] = TiffImagePlugin.IFDRational(dpi, 1)
        exif[_EXIF_RESOLUTION_UNIT] = 2
        density = {"dpi": (dpi, dpi)}
    xmp = _xmp_packet(artist=artist)

    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=quality, exif=exif, xmp=xmp, optimize=False, **density)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=quality, exif=exif, xmp=xmp, method=2)
    else:
        info = PngImagePlugin.PngInfo()
        # "Description" must stay Latin-1 for tEXt; TAG_TEXT's middle dot (U+00B7) is Latin-1.
        info.add_text("Description", TAG_TEXT)
        info.add_text("Software", SOFTWARE_NAME)
        info.add_itxt("Disclaimer", TAG_TEXT, lang="en")
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
        if artist:
            info.add_itxt("Author", artist)
        image.save(out, "PNG", pnginfo=info, exif=exif, compress_level=1, **density)
    return out.getvalue()


def _delivery_mode(image: Image.Image, fmt: str) -> Image.Image:
    if fmt == "JPEG" and image.mode != "RGB":
        return image.convert("RGB")
    if image.mode not in ("RGB", "RGBA"):
        return image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return image


_context_lock = threading.Lock()
_signing_context: c2pa.Context | None = None


def _c2pa_signing_context() -> c2pa.Context:
    # The SDK's default embeds a re-encoded thumbnail in every manifest: ~80 ms per web-size
    # JPEG against ~3 ms without. The gallery has its own thumbnails, so the manifest skips it.
    global _signing_context
    with _context_lock:
        if _signing_context is None:
            settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}})
            _signing_context = c2pa.Context(settings=settings)
        return _signing_context


def sign_c2pa(
    data: bytes,
    *,
    fmt: str,
    signer: C2paSigner,
    title: str = "Cradle portrait",
    mark_id: int | None = None,
) -> bytes:
    """Embed a signed C2PA manifest with a `c2pa.created` trainedAlgorithmicMedia action and,
    when the pixels carry one, a soft binding naming their watermark's ``mark_id``."""
    mime = _MIME_BY_FORMAT[fmt.upper()]
    manifest = _c2pa_manifest(title=title, mark_id=mark_id)
    native_signer = signer.native_signer()
    try:
        with c2pa.Builder(manifest, _c2pa_signing_context()) as builder:
            destination = io.BytesIO()
            builder.sign(native_signer, mime, io.BytesIO(data), destination)
            return destination.getvalue()
    finally:
        native_signer.close()


def tag_image(
    image: Image.Image,
    *,
    fmt: str = "JPEG",
    signer: C2paSigner | None,
    artist: str | None = None,
    dpi: int | None = None,
    mark_id: int | None = None,
) -> bytes:
    """Encode `image` as `fmt` with the tag in EXIF, XMP, PNG text and a signed C2PA manifest.

    `signer` has no default on purpose: a caller must say whether the file is a delivery (pass
    the studio's signer) or an editor preview that never leaves Cradle (None: no manifest).
    `mark_id` is the watermark already in `image`'s pixels (``branding.watermark.embed``); the
    manifest's soft binding names it.
    """
    data = encode_with_tag(image, fmt=fmt, artist=artist, dpi=dpi)
    if signer is None:
        return data
    return sign_c2pa(data, fmt=fmt, signer=signer, mark_id=mark_id)


# --------------------------------------------------------------------------------------------
# Reading it back
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProvenanceReport:
    format: str
    exif_description: str | None  # ImageDescription, ASCII
    exif_software: str | None
    xmp_description: str | None
    xmp_digital_source_type: str | None
    png_text: dict[str, str] = field(default_factory=dict)
    c2pa_present: bool = False
    c2pa_digital_source_type: str | None = None
    c2pa_actions: tuple[str, ...] = ()
    c2pa_validation_state: str | None = None
    c2pa_failure_codes: tuple[str, ...] = ()
    c2pa_error: str | None = None
    exif_comment: str | None = None  # UserComment, decoded by its charset header
    # Every c2pa.soft-binding block of the active manifest: (alg, value bytes).
    c2pa_soft_bindings: tuple[tuple[str, bytes], ...] = ()
    c2pa_signer_issuer: str | None = None
    c2pa_signer_serial: str | None = None

    @property
    def c2pa_mark_id(self) -> int | None:
        """The watermark mark id the manifest binds to, if it names Cradle's algorithm."""
        for alg, value in self.c2pa_soft_bindings:
            if alg == WATERMARK_ALGORITHM and len(value) == _MARK_ID_BYTES:
                return int.from_bytes(value, "big") or None
        return None

    @property
    def c2pa_signer_untrusted(self) -> bool:
        """True for the development CA (expected in dev, never in production)."""
        return "signingCredential.untrusted" in self.c2pa_failure_codes

    @property
    def exif_has_tag(self) -> bool:
        return self.exif_description == TAG_TEXT_ASCII and self.exif_comment == TAG_TEXT

    @property
    def xmp_has_tag(self) -> bool:
        return (
            self.xmp_description == TAG_TEXT
            and self.xmp_digital_source_type == TRAINED_ALGORITHMIC_MEDIA
        )

    @property
    def png_text_has_tag(self) -> bool:
        return TAG_TEXT in self.png_text.values()

    @property
    def c2pa_has_tag(self) -> bool:
        return (
            self.c2pa_present
            and "c2pa.created" in self.c2pa_actions
            and self.c2pa_digital_source_type == TRAINED_ALGORITHMIC_MEDIA
            # "Invalid" means the bytes no longer match the signature; untrusted dev certs are
            # reported as "Valid" (structure and signature fine, signer not on a trust list).
            and self.c2pa_validation_state not in (None, "Invalid")
        )

    @property
    def carries_tag_everywhere(self) -> bool:
        """EXIF, XMP, C2PA — plus PNG text when the file is a PNG."""
        places = [self.exif_has_tag, self.xmp_has_tag, self.c2pa_has_tag]
        if self.format == "PNG":
            places.append(self.png_text_has_tag)
        return all(places)


def read_provenance(data: bytes) -> ProvenanceReport:
    """Read the tag back from an encoded file with independent readers."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format or "UNKNOWN"
            exif = image.getexif()
            png_text = dict(getattr(image, "text", {}) or {}) if fmt == "PNG" else {}
    except (OSError, SyntaxError) as error:
        raise ProvenanceError("Not an image file Cradle can read provenance from") from error
    png_text.pop("XML:com.adobe.xmp", None)

    xmp_description, xmp_source_type = _parse_xmp(_extract_xmp(data, fmt))
    c2pa_fields = _read_c2pa(data, fmt)
    return ProvenanceReport(
        format=fmt,
        exif_description=_as_text(exif.get(_EXIF_IMAGE_DESCRIPTION)),
        exif_software=_as_text(exif.get(_EXIF_SOFTWARE)),
        exif_comment=_user_comment_text(exif.get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT), exif),
        xmp_description=xmp_description,
        xmp_digital_source_type=xmp_source_type,
        png_text={str(k): str(v) for k, v in png_text.items()},
        **c2pa_fields,
    )


def _as_text(value: object) -> str | None:
    """An EXIF ASCII field as any reader sees it (Pillow decodes it as Latin-1: UTF-8 bytes
    written there come back as "Â·", which is what a phone or Windows would show too)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).rstrip("\x00")


def _user_comment_text(value: object, exif: Image.Exif) -> str | None:
    if not isinstance(value, bytes) or len(value) < 8:
        return None
    charset, body = value[:8], value[8:]
    if charset == _USER_COMMENT_UNICODE:
        order = "utf-16-le" if getattr(exif, "endian", ">") == "<" else "utf-16-be"
        return body.decode(order, errors="replace").rstrip("\x00")
    return body.decode("ascii" if charset.startswith(b"ASCII") else "utf-8", errors="replace")


def _extract_xmp(data: bytes, fmt: str) -> bytes | None:
    """Find the XMP packet by walking the container's own structure (not via Pillow)."""
    if fmt == "JPEG":
        return _jpeg_xmp(data)
    if fmt == "PNG":
        return _png_xmp(data)
    if fmt == "WEBP":
        return _webp_xmp(data)
    return None


def _jpeg_xmp(data: bytes) -> bytes | None:
    position = 2  # after SOI
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD9, 0xDA):  # EOI / start of scan: no more metadata segments
            return None
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        payload = data[position + 4 : position + 2 + length]
        if marker == 0xE1 and payload.startswith(_JPEG_XMP_HEADER):
            return payload[len(_JPEG_XMP_HEADER) :]
        position += 2 + length
    return None


def _png_xmp(data: bytes) -> bytes | None:
    if not data.startswith(_PNG_SIGNATURE):
        return None
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, chunk_type = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if chunk_type == b"iTXt":
            keyword, _, rest = body.partition(b"\x00")
            if keyword == b"XML:com.adobe.xmp":
                compressed = rest[0]
                # rest: compression flag, method, language\0, translated keyword\0, text
                _, _, after_lang = rest[2:].partition(b"\x00")
                _, _, text = after_lang.partition(b"\x00")
                return zlib.decompress(text) if compressed else text
        if chunk_type == b"IEND":
            return None
        position += 12 + length
    return None


def _webp_xmp(data: bytes) -> bytes | None:
    position = 12  # RIFF header
    while position + 8 <= len(data):
        chunk_type, length = struct.unpack("<4sI", data[position : position + 8])
        if chunk_type == b"XMP ":
            return data[position + 8 : position + 8 + length]
        position += 8 + length + (length & 1)
    return None


def _parse_xmp(packet: bytes | None) -> tuple[str | None, str | None]:
    if not packet:
        return None, None
    start, end = packet.find(b"<x:xmpmeta"), packet.rfind(b"</x:xmpmeta>")
    if start < 0 or end < 0:
        return None, None
    root = ElementTree.fromstring(packet[start : end + len(b"</x:xmpmeta>")])
    description = root.find(".//dc:description/rdf:Alt/rdf:li", _NS)
    source_type = root.find(".//Iptc4xmpExt:DigitalSourceType", _NS)
    if source_type is None:
        # XMP allows the simple property as an attribute of rdf:Description as well.
        for node in root.iterfind(".//rdf:Description", _NS):
            value = node.get(f"{{{_NS['Iptc4xmpExt']}}}DigitalSourceType")
            if value:
                return (description.text if description is not None else None), value
    return (
        description.text if description is not None else None,
        source_type.text if source_type is not None else None,
    )


def _read_c2pa(data: bytes, fmt: str) -> dict:
    mime = _MIME_BY_FORMAT.get(fmt)
    if mime is None:
        return {"c2pa_error": f"C2PA not read for format {fmt}"}
    try:
        with c2pa.Reader(mime, io.BytesIO(data), context=_c2pa_reading_context()) as reader:
            manifest = reader.get_active_manifest()
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
    except c2pa.C2paError as error:
        # ManifestNotFound is the normal answer for a file without a manifest.
        return {"c2pa_error": str(error) or type(error).__name__}
    if not manifest:
        return {"c2pa_validation_state": state}
    actions: list[dict] = []
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions.extend(assertion.get("data", {}).get("actions", []))
    created = [a for a in actions if a.get("action") == "c2pa.created"]
    signature = manifest.get("signature_info") or {}
    return {
        "c2pa_soft_bindings": _soft_bindings(manifest),
        "c2pa_signer_issuer": signature.get("issuer"),
        "c2pa_signer_serial": signature.get("cert_serial_number"),
        "c2pa_present": True,
        "c2pa_digital_source_type": created[0].get("digitalSourceType") if created else None,
        "c2pa_actions": tuple(str(a.get("action")) for a in actions),
        "c2pa_validation_state": state,
        "c2pa_failure_codes": tuple(
            str(entry.get("code")) for entry in results.get("activeManifest", {}).get("failure", [])
        ),
    }


_reading_context: c2pa.Context | None = None


def _c2pa_reading_context() -> c2pa.Context:
    # Newer SDKs check a soft binding's algorithm against a configured list and call any other
    # "unsupported"; Cradle's own is on the list its readers use.
    global _reading_context
    with _context_lock:
        if _reading_context is None:
            settings = c2pa.Settings.from_dict(
                {"soft_binding": {"soft_binding_algorithms": [WATERMARK_ALGORITHM]}}
            )
            _reading_context = c2pa.Context(settings=settings)
        return _reading_context


def _soft_bindings(manifest: dict) -> tuple[tuple[str, bytes], ...]:
    found = []
    for assertion in manifest.get("assertions", []):
        if not str(assertion.get("label", "")).startswith(SOFT_BINDING_LABEL):
            continue
        data = assertion.get("data") or {}
        for block in data.get("blocks") or []:
            value = block.get("value")
            # The reader shows a CBOR byte string as base64 text; a list of ints is accepted too.
            if isinstance(value, str):
                try:
                    raw = base64.b64decode(value, validate=True)
                except ValueError:
                    continue
            elif isinstance(value, list) and all(isinstance(b, int) for b in value):
                raw = bytes(b & 0xFF for b in value)
            else:
                continue
            found.append((str(data.get("alg") or ""), raw))
    return tuple(found)


def manifest_json(data: bytes, fmt: str = "JPEG") -> dict:
    """The raw manifest store, for debugging and the audit view."""
    with c2pa.Reader(_MIME_BY_FORMAT[fmt.upper()], io.BytesIO(data)) as reader:
        return json.loads(reader.json())
