"""Reading the check's upload: in memory only, and never more than the limit.

Django spools an upload over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file; the check promises
never to store what a stranger sends, so its requests use this handler alone, which keeps the
bytes in memory and stops keeping them past ``VERIFY_MAX_UPLOAD_BYTES`` (a request that says it
is larger is refused before a byte of it is read: ``declared_too_large``).
"""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

# Multipart framing (boundaries, headers, the CSRF field) on top of the file itself.
_FORM_OVERHEAD = 64 * 1024


def max_upload_bytes() -> int:
    return int(settings.VERIFY_MAX_UPLOAD_BYTES)


def declared_too_large(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > max_upload_bytes() + _FORM_OVERHEAD


class BoundedMemoryUploadHandler(FileUploadHandler):
    """Every file field in memory; one past the limit is dropped and ``too_large`` set."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.too_large = False
        self._buffer = io.BytesIO()

    def new_file(self, *args: object, **kwargs: object) -> None:
        super().new_file(*args, **kwargs)
        self._buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > max_upload_bytes():
            self.too_large = True
            self._buffer = io.BytesIO()
            raise SkipFile()  # the rest of this file is read and thrown away, never kept
        self._buffer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self._buffer.seek(0)
        return InMemoryUploadedFile(
            file=self._buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def bounded_upload_handler(request: HttpRequest) -> BoundedMemoryUploadHandler:
    """Install the handler on ``request`` (before its body is read) and return it."""
    handler = BoundedMemoryUploadHandler(request)
    request.upload_handlers = [handler]
    return handler


def max_upload_words() -> str:
    """The limit as a person reads it: "15 MB", or "98 kB" below a megabyte."""
    limit = max_upload_bytes()
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):.0f} MB"
    return f"{limit // 1024} kB"


def too_large_sentence() -> str:
    return f"The image is larger than {max_upload_words()}; send a smaller copy."
