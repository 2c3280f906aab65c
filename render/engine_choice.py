"""Which engine paints a studio's portraits, what the parent is told about it, and how a job's
engine is built.

The operator configures the engines (``relight`` always; ``diffusers`` on GPU workers with
``RENDER_ENGINE=diffusers``; ``hosted`` once ``REPLICATE_API_TOKEN`` and ``RENDER_HOSTED_MODEL``
are set); each studio's owner chooses among them on the settings page (``Studio.render_engine``,
empty: the operator's default). Choosing ``hosted`` is the studio's opt-in to sending the
de-identified crop to Replicate, and from then on the consent text a parent accepts names
Replicate, says what is sent, that it is not kept and not used for training, and its version
says so (``…+replicate``). A job is sent to the provider only for a parent who accepted that
text: a session opened before the studio opted in renders on the operator's own engine.

Hosted settings, read from Django settings or else the environment (so a deployment sets them
like every other ``RENDER_*``): ``REPLICATE_API_TOKEN``, ``RENDER_HOSTED_MODEL``,
``RENDER_HOSTED_BASE_URL`` (a proxy or a test server), ``RENDER_HOSTED_TIMEOUT_S`` (180),
``RENDER_HOSTED_USD_PER_SECOND`` (the model's hardware price, to record each job's cost).
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from render.models import RenderJob
from studio_portal.audit.services import audit_log_write
from studio_portal.permissions import is_studio_owner
from studio_portal.tenants.models import Studio

HOSTED = "hosted"
HOSTED_PROVIDER_LABEL = "Replicate"
HOSTED_CONSENT_SUFFIX = "+replicate"
ENGINE_LABELS = {
    "relight": "Studio light (Cradle's own servers, no photograph)",
    "diffusers": "Photoreal on Cradle's GPU servers",
    HOSTED: f"Photoreal by {HOSTED_PROVIDER_LABEL} (a hosted provider)",
}
HOSTED_CONSENT_TEXT = (
    "To paint the photoreal portrait, a copy of the scan's picture of the baby, cut to the "
    "baby's outline with no names, dates or clinic details, is sent to Replicate, Inc. (USA), "
    "which processes it for Cradle. Replicate does not keep it after the portrait is made and "
    "does not use it to train models; nothing else about you is sent."
)


def _setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value or "")


def hosted_configured() -> bool:
    return bool(_setting("REPLICATE_API_TOKEN") and _setting("RENDER_HOSTED_MODEL"))


def configured_engines() -> list[str]:
    """The engines this deployment can run, the operator's default first."""
    engines = [settings.RENDER_ENGINE]
    for name in ("relight", "diffusers", HOSTED):
        if name in engines:
            continue
        if name == "relight" or (name == HOSTED and hosted_configured()):
            engines.append(name)
    return engines


def studio_engine(studio: Any) -> str:
    """The engine the studio chose if the operator still offers it, else the default."""
    chosen = getattr(studio, "render_engine", "") or ""
    return chosen if chosen in configured_engines() else settings.RENDER_ENGINE


def consent_version(studio: Any) -> str:
    """The consent text's version a parent accepts at this studio now."""
    base = settings.CONSENT_TEXT_VERSION
    return base + HOSTED_CONSENT_SUFFIX if studio_engine(studio) == HOSTED else base


def consent_names_hosted(version: str) -> bool:
    return version.endswith(HOSTED_CONSENT_SUFFIX)


def engine_for_session(session: Any, studio: Any) -> str:
    """The engine a new job of ``session`` runs on: the studio's, except that a parent who did
    not accept the text naming the hosted provider is never sent to it."""
    engine = studio_engine(studio)
    if engine == HOSTED and not consent_names_hosted(session.consent_text_version):
        engine = settings.RENDER_ENGINE if settings.RENDER_ENGINE != HOSTED else "relight"
    return engine


def engine_options(job: Any) -> dict[str, object]:
    """``get_engine`` options for ``job``'s engine; the hosted engine records its request on
    the job (``stage_log["hosted"]``: provider, request id, status, run time, cost)."""
    if job.engine == "diffusers":
        return {"model_dir": settings.RENDER_MODEL_DIR}
    if job.engine != HOSTED:
        return {}

    def record(request: dict[str, object]) -> None:
        job.stage_log[HOSTED] = request
        RenderJob.objects.filter(pk=job.pk).update(stage_log=job.stage_log)

    return {
        "api_token": _setting("REPLICATE_API_TOKEN"),
        "model": _setting("RENDER_HOSTED_MODEL"),
        "base_url": _setting("RENDER_HOSTED_BASE_URL") or None,
        "timeout_s": float(_setting("RENDER_HOSTED_TIMEOUT_S", "180") or 180),
        "usd_per_second": float(_setting("RENDER_HOSTED_USD_PER_SECOND", "0") or 0),
        "record": record,
    }


def studio_render_engine_set(*, studio: Any, engine: str, changed_by: Any = None) -> Any:
    """The owner's choice of engine ("" for the operator's default). Choosing ``hosted`` opts
    the studio in to the hosted provider; new sessions' consent names it from then on."""
    engine = (engine or "").strip()
    offered = configured_engines()
    if engine and engine not in offered:
        if engine == HOSTED:
            raise ValidationError(
                "Cradle's operator has not set up the hosted engine on this server, so it "
                "cannot be chosen yet."
            )
        raise ValidationError(f"Unknown engine {engine!r}. Choose one of: {', '.join(offered)}.")
    if changed_by is not None and not is_studio_owner(changed_by):  # None: Cradle itself
        raise ValidationError("Only the studio's owners can choose the portrait engine.")
    previous = studio.render_engine
    Studio.objects.filter(pk=studio.pk).update(render_engine=engine)
    studio.render_engine = engine
    # The studio's own audit log, whichever schema the caller is in (a shell, a test).
    with schema_context(studio.schema_name):
        audit_log_write(
            action="studio.render_engine_changed",
            obj=studio,
            actor=changed_by,
            detail={"from": previous or "default", "to": engine or "default"},
        )
    return studio


def engine_choices() -> list[tuple[str, str]]:
    """(value, label) for the settings page: the operator's default first."""
    default = settings.RENDER_ENGINE
    choices = [("", f"Cradle's default: {ENGINE_LABELS.get(default, default)}")]
    choices += [(name, ENGINE_LABELS.get(name, name)) for name in configured_engines()]
    return choices
