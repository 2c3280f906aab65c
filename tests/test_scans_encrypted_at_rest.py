"""Scans are sealed at rest with AES-256-GCM under a key derived from SCAN_ENCRYPTION_KEY:
cheap enough for the upload request, tamper-evident, and scans stored before as Fernet tokens
still open."""

from __future__ import annotations

import os
import time

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet

from render.services import scan_decrypt, scan_encrypt


def test_a_scan_is_sealed_unreadable_and_opens_again(settings) -> None:
    data = b"\xff\xd8\xff\xe0 a scan's own bytes " + os.urandom(4096)
    sealed = scan_encrypt(data)
    assert data[:24] not in sealed and sealed.startswith(b"CRS2")
    assert scan_encrypt(data) != sealed  # a fresh nonce each time
    assert scan_decrypt(sealed) == data


def test_a_scan_stored_as_a_fernet_token_before_still_opens(settings) -> None:
    data = os.urandom(2048)
    token = Fernet(settings.SCAN_ENCRYPTION_KEY.encode()).encrypt(data)
    assert scan_decrypt(token) == data


def test_an_altered_scan_or_another_studios_key_opens_nothing(settings) -> None:
    sealed = bytearray(scan_encrypt(b"scan" * 1000))
    sealed[100] ^= 1
    with pytest.raises(InvalidTag):
        scan_decrypt(bytes(sealed))
    sealed[100] ^= 1
    settings.SCAN_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(InvalidTag):
        scan_decrypt(bytes(sealed))


def test_sealing_ten_megabytes_fits_in_an_upload_request() -> None:
    data = os.urandom(10_000_000)
    started = time.perf_counter()
    sealed = scan_encrypt(data)
    seconds = time.perf_counter() - started
    assert len(sealed) == len(data) + 4 + 12 + 16
    assert seconds < 0.1, f"{seconds * 1000:.0f} ms (Fernet took 140-240 ms)"
