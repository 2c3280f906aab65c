"""Development C2PA signing material: generated once, reused, shaped as C2PA requires."""

import datetime as dt
import os
import stat

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from branding.provenance import C2paSigner, ensure_dev_signing_material


def test_material_is_generated_once_and_reused(tmp_path):
    first = ensure_dev_signing_material(tmp_path)
    chain_mtime = (tmp_path / "dev-signer-chain.pem").stat().st_mtime_ns
    second = ensure_dev_signing_material(tmp_path)

    assert first.cert_chain_pem == second.cert_chain_pem
    assert first.private_key_pem == second.private_key_pem
    assert (tmp_path / "dev-signer-chain.pem").stat().st_mtime_ns == chain_mtime
    assert stat.S_IMODE(os.stat(tmp_path / "dev-signer.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "dev-ca.key").st_mode) == 0o600


def test_the_leaf_is_an_ec_p256_signing_certificate_issued_by_the_local_ca(tmp_path):
    signer = ensure_dev_signing_material(tmp_path)
    leaf, ca = x509.load_pem_x509_certificates(signer.cert_chain_pem)

    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.public_key().curve.name == "secp256r1"
    assert leaf.issuer == ca.subject and leaf.subject != ca.subject
    leaf.verify_directly_issued_by(ca)
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert signer.alg == c2pa.C2paSigningAlg.ES256


def test_an_expiring_leaf_is_replaced(tmp_path):
    ensure_dev_signing_material(tmp_path)
    chain_path = tmp_path / "dev-signer-chain.pem"
    leaf = x509.load_pem_x509_certificates(chain_path.read_bytes())[0]
    # Replace the leaf with one that expires tomorrow: inside the renewal window.
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    expiring = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=300))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    chain_path.write_bytes(expiring.public_bytes(serialization.Encoding.PEM))

    renewed = ensure_dev_signing_material(tmp_path)

    new_leaf = x509.load_pem_x509_certificates(renewed.cert_chain_pem)[0]
    assert new_leaf.not_valid_after_utc > now + dt.timedelta(days=300)


def test_production_material_loads_from_files(tmp_path):
    ensure_dev_signing_material(tmp_path)
    signer = C2paSigner.from_files(tmp_path / "dev-signer-chain.pem", tmp_path / "dev-signer.key")
    assert signer.alg == c2pa.C2paSigningAlg.ES256
    assert "PRIVATE KEY" not in repr(signer)
    native = signer.native_signer()
    try:
        assert native.reserve_size() > 0
    finally:
        native.close()
