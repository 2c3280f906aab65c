"""How the owner's audit log reads: each entry as a short sentence with the object it names as a
link (while it still exists), never a raw dict.

Entries are written by every app with free-form ``detail``; the known keys get words of their
own, anything else reads "key: value". Objects are looked up in one query per kind for the whole
page, so a page of 100 entries costs a handful of queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils.dateparse import parse_datetime

from galleries.models import Delivery, Gallery
from render.models import Candidate, ParentSession, RenderJob, Scan
from studio_portal.audit.models import AuditLogEntry

ACTION_LABELS = {
    "gallery.sent": "Gallery sent",
    "gallery.protected": "Gallery PIN or expiry changed",
    "gallery.deleted": "Gallery deleted",
    "gallery.exported": "Parent's portraits exported",
    "gallery.expiry_reminded": "Expiry reminder sent",
    "gallery.pin_sent": "New PIN sent to the parent",
    "gallery_settings.updated": "Gallery settings changed",
    "portrait.deleted": "Portrait deleted",
    "parent_session.erased": "Parent's data erased",
    "parent_session.exported": "Parent's portraits exported",
    "delivery.resent": "Message sent again",
    "sms.opted_out": "Parent replied STOP",
    "sms.opted_in": "Parent replied START",
    "scan.purged": "Scan deleted (retention)",
    "brand_kit.updated": "Brand changed",
    "custom_domain.verified": "Custom domain proven",
    "reference_portrait.added": "Reference photo added",
    "reference_portrait.deleted": "Reference photo deleted",
    "team.invited": "Team member invited",
    "team.role_changed": "Team member's role changed",
    "team.removed": "Team member removed",
    "studio.retention_changed": "Retention window changed",
}

CHANNEL_WORDS = {"email": "email", "sms": "SMS"}


@dataclass(frozen=True)
class Part:
    """One piece of an entry's sentence; a link when ``url`` is set."""

    text: str
    url: str = ""


@dataclass(frozen=True)
class AuditRow:
    entry: AuditLogEntry
    action: str
    target: Part
    detail: tuple[Part, ...]


def audit_rows(entries: Sequence[AuditLogEntry]) -> list[AuditRow]:
    links = _Links(entries)
    return [
        AuditRow(
            entry=entry,
            action=ACTION_LABELS.get(
                entry.action, entry.action.replace("_", " ").replace(".", " ")
            ),
            target=links.target(entry),
            detail=tuple(_detail_parts(entry, links)),
        )
        for entry in entries
    ]


class _Links:
    """Where each object named on the page lives now: one query per kind of object."""

    def __init__(self, entries: Sequence[AuditLogEntry]) -> None:
        def ids(kind: str) -> list[int]:
            return [
                int(e.object_id) for e in entries if e.object_type == kind and _int(e.object_id)
            ]

        self.gallery_uid = dict(
            Gallery.objects.filter(pk__in=ids("Gallery")).values_list("pk", "uid")
        )
        self.candidate_job = dict(
            Candidate.objects.filter(pk__in=ids("Candidate")).values_list("pk", "job__uid")
        )
        self.delivery_gallery = dict(
            Delivery.objects.filter(pk__in=ids("Delivery")).values_list("pk", "gallery__uid")
        )
        self.scan_session = dict(
            Scan.objects.filter(pk__in=ids("Scan")).values_list("pk", "session__uid")
        )
        self.session_uid = dict(
            ParentSession.objects.filter(pk__in=ids("ParentSession")).values_list("pk", "uid")
        )
        named_jobs = {
            str(e.detail.get("job"))
            for e in entries
            if isinstance(e.detail, dict) and e.detail.get("job")
        }
        self.live_jobs = {
            str(uid)
            for uid in RenderJob.objects.filter(uid__in=_uuids(named_jobs)).values_list(
                "uid", flat=True
            )
        }
        named_sessions = {
            str(e.detail.get("session"))
            for e in entries
            if isinstance(e.detail, dict) and e.detail.get("session")
        }
        self.live_sessions = {
            str(uid)
            for uid in ParentSession.objects.filter(uid__in=_uuids(named_sessions)).values_list(
                "uid", flat=True
            )
        }

    def target(self, entry: AuditLogEntry) -> Part:
        kind, pk = entry.object_type, _int(entry.object_id)
        if kind == "Gallery":
            uid = self.gallery_uid.get(pk)
            return (
                Part("the gallery", reverse("gallery-detail", args=[uid]))
                if uid
                else Part("a gallery (deleted)")
            )
        if kind == "Candidate":
            job = self.candidate_job.get(pk)
            if job:
                return Part("a portrait", reverse("job-detail", args=[job]))
            return Part("a portrait (deleted)")
        if kind == "Delivery":
            uid = self.delivery_gallery.get(pk)
            return (
                Part("a message", reverse("gallery-detail", args=[uid]))
                if uid
                else Part("a message (deleted)")
            )
        if kind == "Scan":
            session = self.scan_session.get(pk)
            if session:
                return Part("a scan", reverse("session-detail", args=[session]))
            return Part("a scan (deleted)")
        if kind == "ParentSession":
            uid = self.session_uid.get(pk)
            return (
                Part("a parent", reverse("session-detail", args=[uid]))
                if uid
                else Part("a parent (data erased)")
            )
        if kind == "GallerySettings":
            return Part("gallery settings", reverse("gallery-settings"))
        if kind == "BrandKit":
            return Part("the brand", reverse("brand-kit-edit"))
        if kind == "User":
            return Part("a team member", reverse("team"))
        if kind == "Studio":
            return Part("the studio", reverse("studio-settings"))
        if kind == "SmsOptOut":
            return Part("a mobile number")
        return Part(f"{kind} {entry.object_id}".strip())

    def job(self, uid: object) -> Part:
        uid = str(uid)
        if uid in self.live_jobs:
            return Part("the render", reverse("job-detail", args=[uid]))
        return Part("a render (deleted)")

    def session(self, uid: object) -> Part:
        uid = str(uid)
        if uid in self.live_sessions:
            return Part("the parent", reverse("session-detail", args=[uid]))
        return Part("the parent (data erased)")


def _detail_parts(entry: AuditLogEntry, links: _Links) -> Iterable[Part]:
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    rest = dict(detail)

    def take(key: str) -> object:
        return rest.pop(key, None)

    if "channels" in rest:
        channels = [CHANNEL_WORDS.get(str(c), str(c)) for c in take("channels") or []]
        yield Part("by " + " and ".join(channels) if channels else "by no channel")
    if "channel" in rest:
        yield Part("by " + CHANNEL_WORDS.get(str(take("channel")), "message"))
    if "pin" in rest:
        yield Part(
            {
                "set": "PIN set",
                "changed": "PIN changed",
                "cleared": "PIN removed",
                "none": "no PIN",
            }.get(str(take("pin")), "PIN changed")
        )
    if "expires_at" in rest:
        when = _when(take("expires_at"))
        yield Part(f"closes on {when:%-d %b %Y}" if when else "never closes")
    if "default_expiry_days" in rest:
        days = take("default_expiry_days")
        yield Part(f"new links close after {days} days" if days else "new links never close")
    if "favourites_email" in rest:
        on = take("favourites_email")
        yield Part("favourites emailed to the studio" if on else "no favourites email")
    if "job" in rest:
        yield links.job(take("job"))
    if "session" in rest:
        yield links.session(take("session"))
    if "rank" in rest:
        rank = take("rank")
        primary = " (the primary)" if take("was_primary") else ""
        yield Part(f"portrait {int(rank) + 1}{primary}" if _int(rank) is not None else "portrait")
    counts = []
    for name in ("opens", "downloads", "shares"):
        if name in rest:
            number = take(name)
            counts.append(f"{number} {name.rstrip('s') if number == 1 else name}")
    if counts:
        yield Part(", ".join(counts))
    if "with_portraits" in rest:
        yield Part("with every portrait" if take("with_portraits") else "portraits kept")
    if "reason" in rest:
        reason, days = take("reason"), take("retention_days")
        yield Part(f"{reason} ({days} days)" if days else str(reason))
    for key, value in rest.items():
        yield Part(f"{key.replace('_', ' ')}: {_plain(value)}")


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_plain(v)}" for k, v in value.items())
    when = _when(value)
    if when is not None:
        return f"{when:%-d %b %Y %H:%M}"
    return str(value)


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _uuids(values: Iterable[str]) -> list[str]:
    import uuid

    found = []
    for value in values:
        try:
            found.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return found
