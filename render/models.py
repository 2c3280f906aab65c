import uuid

from django.conf import settings
from django.db import connection, models
from django.db.models.fields.files import FieldFile


# Every stored file sits under its studio's schema name, so a path alone never crosses tenants.
def _scan_path(scan: "Scan", filename: str) -> str:
    return f"{connection.schema_name}/scans/{scan.uid}/{filename}"


def _candidate_path(candidate: "Candidate", filename: str) -> str:
    return f"{connection.schema_name}/portraits/{candidate.job.uid}/{filename}"


class ParentSession(models.Model):
    """A parent's visit: who she is, her consent, and the skin tones she chose."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    parent_name = models.CharField(max_length=120)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +14155550123")
    consent_at = models.DateTimeField()
    consent_text_version = models.CharField(max_length=20)
    # The parents' choices as given: "#rrggbb" strings or Monk Skin Tone steps ("monk:4").
    skin_swatches = models.JSONField(default=list)
    target_tone_hex = models.CharField(max_length=7)
    style = models.CharField(max_length=32, default="classic")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.parent_name


class Scan(models.Model):
    """An uploaded scan and its derivatives. All of them go on the studio's retention window."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey(ParentSession, on_delete=models.CASCADE, related_name="scans")
    original_encrypted = models.FileField(upload_to=_scan_path, max_length=255)
    deidentified = models.FileField(upload_to=_scan_path, max_length=255)
    sha256 = models.CharField(max_length=64)
    detected_type = models.CharField(max_length=16)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    frame_index = models.PositiveIntegerField(null=True, blank=True)
    render_box = models.JSONField(default=list)
    text_boxes = models.JSONField(default=list)
    # Vision outputs: maps for display, the arrays for re-running from conditioning.
    cues_file = models.FileField(upload_to=_scan_path, max_length=255, blank=True)
    depth_map = models.FileField(upload_to=_scan_path, max_length=255, blank=True)
    normals_map = models.FileField(upload_to=_scan_path, max_length=255, blank=True)
    mask_map = models.FileField(upload_to=_scan_path, max_length=255, blank=True)
    report_image = models.FileField(upload_to=_scan_path, max_length=255, blank=True)
    anchors = models.JSONField(default=dict)
    dropped_anchors = models.JSONField(default=list)
    # The sonographer placed ``anchors`` herself where vision found no face: vision reads the
    # scan from them (``vision.analyze(placed=...)``).
    anchors_placed = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # The same file uploaded again for the session is found by its hash (scan_upload).
        indexes = [models.Index(fields=["session", "sha256"], name="scan_session_sha256")]

    def __str__(self) -> str:
        return f"scan {self.uid} ({self.detected_type})"

    def derivative_fields(self) -> list[FieldFile]:
        return [
            self.original_encrypted,
            self.deidentified,
            self.cues_file,
            self.depth_map,
            self.normals_map,
            self.mask_map,
            self.report_image,
        ]


class RenderJob(models.Model):
    """One pass of the pipeline over a scan: a state machine with a time per stage."""

    class State(models.TextChoices):
        # Stored by the upload after header checks only; the worker decodes and screens it.
        CHECKING = "checking", "Checking the scan…"
        QUEUED = "queued", "Queued"
        VISION = "vision", "Finding the face"
        CONDITIONING = "conditioning", "Preparing"
        RENDER = "render", "Painting"
        SCORE = "score", "Ranking"
        OVERLAY = "overlay", "Branding"
        READY = "ready", "Ready to review"
        # The best portrait scored under RENDER_REVIEW_THRESHOLD, or has no eye or no mouth
        # drawn (the scan did not show them clearly): ``reason`` says why. A person looks
        # before anything is sent; every action of "ready" is open.
        NEEDS_REVIEW = "needs_review", "Needs review"
        DELIVERING = "delivering", "Sending"
        DELIVERED = "delivered", "Sent"
        REJECTED = "rejected", "Scan not usable"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # Stages in order; the key each one writes in ``stage_log``.
    STAGES = ("ingest", "vision", "conditioning", "render", "score", "overlay", "deliver")
    # On the way between the upload and a result ("checking" both waits for the check's worker
    # and runs in it, under one name).
    RUNNING = (
        State.CHECKING,
        State.VISION,
        State.CONDITIONING,
        State.RENDER,
        State.SCORE,
        State.OVERLAY,
    )
    FINISHED = (State.DELIVERED, State.REJECTED, State.FAILED, State.CANCELLED)
    # Portraits made and waiting for the sonographer: review, pick, send or paint again.
    REVIEWABLE = (State.READY, State.NEEDS_REVIEW)

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.SET_NULL, null=True, related_name="jobs")
    session = models.ForeignKey(ParentSession, on_delete=models.CASCADE, related_name="jobs")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    reason = models.TextField(blank=True)
    engine = models.CharField(max_length=32, default="relight")
    style = models.CharField(max_length=32, default="classic")
    base_seed = models.BigIntegerField()
    correction_strength = models.FloatField(default=0.0)
    parent_job = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    # {"vision": {"started_at": iso, "ms": 12.3}, ...}: the dashboard and benchmarks read it.
    stage_log = models.JSONField(default=dict)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the broker last took the message for the job's next stage; empty while the job waits
    # for one it never took (see studio_portal.outbox: the sweep sends it).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"render job {self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def is_live(self) -> bool:
        """Something is still happening: the dashboard keeps polling."""
        return self.state in (self.State.QUEUED, *self.RUNNING, self.State.DELIVERING)

    def stage_ms(self) -> dict[str, float]:
        return {name: entry["ms"] for name, entry in self.stage_log.items() if "ms" in entry}


class Candidate(models.Model):
    """One rendered portrait; the primary and the shared alternates reach the parent."""

    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="candidates")
    seed = models.BigIntegerField()
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()
    score_terms = models.JSONField(default=dict)
    rejected_reason = models.CharField(max_length=200, blank=True)
    is_primary = models.BooleanField(default=False)
    shared_with_parent = models.BooleanField(default=False)
    image = models.FileField(upload_to=_candidate_path, max_length=255)
    web_image = models.FileField(upload_to=_candidate_path, max_length=255, blank=True)
    print_image = models.FileField(upload_to=_candidate_path, max_length=255, blank=True)
    # The print file's own small outbox (render.print_size): asked for, last handed to the
    # broker, tries so far and the last failure. It ends made, or given up after a few tries.
    print_requested_at = models.DateTimeField(null=True, blank=True)
    print_enqueued_at = models.DateTimeField(null=True, blank=True)
    print_attempts = models.PositiveSmallIntegerField(default=0)
    print_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["job"], condition=models.Q(is_primary=True), name="one_primary_per_job"
            ),
            models.UniqueConstraint(fields=["job", "seed"], name="one_candidate_per_seed"),
        ]

    def __str__(self) -> str:
        return f"candidate {self.rank} of job {self.job_id} (seed {self.seed})"

    # Tries before the print file is given up (a worker killed mid-upscale counts: an upscale
    # that kills its worker every time must not do so for ever).
    PRINT_MAX_ATTEMPTS = 4

    @property
    def print_given_up(self) -> bool:
        """No print file, and no more tries: the web size is what the parent gets."""
        return not self.print_image and self.print_attempts >= self.PRINT_MAX_ATTEMPTS
