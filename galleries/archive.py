"""ZIP archives of portraits: the parent's "Download all" and the studio's export of everything
it holds for one parent (portraits at every size, and the scan while retention keeps it).

Portraits are JPEG and PNG, already compressed: they are stored, not deflated, so an archive
costs a copy and no CPU. The archive is written to a spooled temporary file (memory up to a
few MB, then disk) and streamed from there, so a large export never sits whole in memory.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from branding.provenance import TAG_TEXT
from galleries.models import Favourite, Gallery
from galleries.selectors import gallery_portrait_numbers, gallery_portraits
from render.models import Candidate, ParentSession, Scan
from render.selectors import (
    FileMissing,
    candidate_full_render_delivered,
    file_name_words,
    portrait_file_stem,
)
from studio_portal.tenants.models import Studio
from studio_portal.tenants.selectors import studio_retention_days

SPOOL_BYTES = 8 * 1024 * 1024

ABOUT = (
    f"{TAG_TEXT}.\n\n"
    "These portraits were painted by a computer from an ultrasound scan. They are keepsakes: not "
    "pictures of how a baby will look, and they say nothing about a baby's health. Every file "
    "carries this statement in its metadata (EXIF, XMP and a signed C2PA manifest).\n"
)


@dataclass(frozen=True)
class Archive:
    file: IO[bytes]  # positioned at 0, ready to stream
    files: int  # portrait and scan files inside (the text files not counted)


def _zip(members: Iterable[tuple[str, FieldFile | ContentFile | bytes | str]]) -> Archive:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    files = 0
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in members:
            if isinstance(content, (bytes, str)):
                archive.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
                continue
            try:
                with content.open("rb") as source, archive.open(name, "w") as target:
                    while chunk := source.read(1024 * 1024):
                        target.write(chunk)
            except FileNotFoundError:
                continue  # gone from storage: the archive holds what is there
            files += 1
    spool.seek(0)
    return Archive(spool, files)


def gallery_zip(gallery: Gallery, *, studio_name: str) -> Archive:
    """The parent's "Download all": each shared portrait at web size, and at print size when
    its print file exists, named as her single downloads are (never her name, never an id)."""
    numbers = gallery_portrait_numbers(gallery)
    made_at = gallery.job.created_at
    members: list[tuple[str, FieldFile | bytes | str]] = []
    preparing = []
    for portrait in gallery_portraits(gallery):
        number = numbers[portrait.pk]
        stem = portrait_file_stem(studio_name=studio_name, number=number, made_at=made_at)
        if portrait.web_image:
            members.append((f"{stem}.jpg", portrait.web_image))
        if portrait.print_image:
            members.append((f"{stem}-print.jpg", portrait.print_image))
        else:
            preparing.append(str(number))
    note = ABOUT
    if preparing:
        note += (
            f"\nThe print-size file of portrait {', '.join(preparing)} was still being prepared "
            "when this archive was made; download it from your gallery later.\n"
        )
    members.append(("About these portraits.txt", note))
    return _zip(members)


def parent_export_zip(session: ParentSession, *, studio: Studio) -> Archive:
    """Everything the studio holds for one parent, for its own records before retention: every
    portrait of every render (the render as painted, the web and the print file), the
    de-identified scan and its vision report while they are kept, and a manifest."""
    members: list[tuple[str, FieldFile | ContentFile | bytes | str]] = []
    retention_days = studio_retention_days(studio)
    favourites = set(
        Favourite.objects.filter(gallery__job__session=session).values_list(
            "candidate_id", flat=True
        )
    )
    manifest: dict[str, object] = {
        "studio": studio.name,
        "parent_name": session.parent_name,
        "session": str(session.uid),
        "consent_at": session.consent_at.isoformat(),
        "skin_tone": session.target_tone_hex,
        "style": session.style,
        "exported_at": timezone.now().isoformat(),
        "statement": TAG_TEXT,
        "scans": [],
        "renders": [],
    }
    for index, scan in enumerate(Scan.objects.filter(session=session).order_by("created_at"), 1):
        deleted_on = scan.created_at + timedelta(days=retention_days)
        manifest["scans"].append(  # type: ignore[union-attr]
            {
                "number": index,
                "uploaded_at": scan.created_at.isoformat(),
                "deleted_at": scan.purged_at.isoformat() if scan.purged_at else None,
                "deleted_on_or_after": None if scan.purged_at else _day(deleted_on),
            }
        )
        if scan.purged_at:
            continue
        if scan.deidentified:
            members.append((f"scans/scan-{index}-deidentified.png", scan.deidentified))
        if scan.report_image:
            members.append((f"scans/scan-{index}-vision-report.png", scan.report_image))
    candidates = Candidate.objects.filter(job__session=session).select_related("job")
    for render_number, job in enumerate(session.jobs.order_by("created_at"), 1):
        portraits = []
        for candidate in (c for c in candidates if c.job_id == job.pk):
            stem = portrait_file_stem(
                studio_name=studio.name,
                parent_name=session.parent_name,
                number=candidate.rank + 1,
                made_at=job.created_at,
            )
            folder = f"render-{render_number}"
            files = {}
            for size, field in (
                ("full", candidate.image),
                ("web", candidate.web_image),
                ("print", candidate.print_image),
            ):
                if field:
                    extension = ".png" if field.name.lower().endswith(".png") else ".jpg"
                    files[size] = f"{folder}/{stem}-{size}{extension}"
                    members.append((files[size], _delivered(candidate, size, field)))
            portraits.append(
                {
                    "number": candidate.rank + 1,
                    "score": candidate.score,
                    "primary": candidate.is_primary,
                    "shared_with_parent": candidate.shared_with_parent,
                    "parents_favourite": candidate.pk in favourites,
                    "seed": candidate.seed,
                    "files": files,
                }
            )
        manifest["renders"].append(  # type: ignore[union-attr]
            {
                "number": render_number,
                "job": str(job.uid),
                "made_at": job.created_at.isoformat(),
                "state": job.state,
                "engine": job.engine,
                "style": job.style,
                "portraits": portraits,
            }
        )
    members.append(("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False)))
    members.append(("About these portraits.txt", ABOUT))
    return _zip(members)


def _delivered(candidate: Candidate, size: str, field: FieldFile) -> FieldFile | ContentFile:
    """A portrait as the export carries it: the render as painted leaves marked and tagged, as
    its download does; the web and print files are delivered files already."""
    if size != "full":
        return field
    try:
        return ContentFile(candidate_full_render_delivered(candidate))
    except FileMissing:
        return field  # gone from storage: _zip leaves it out, as for any missing file


def parent_export_name(session: ParentSession, *, studio: Studio) -> str:
    words = [file_name_words(studio.name), file_name_words(session.parent_name)]
    return "-".join([w for w in words if w] + ["export", _day(timezone.now())]) + ".zip"


def _day(moment: datetime) -> str:
    return f"{timezone.localdate(moment):%Y-%m-%d}"
