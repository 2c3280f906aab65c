"""Writes for a studio's team (invites, roles, removal, password resets) and the owner's
studio settings.

An invite is a user row with an unusable password and a one-time link built on Django's
password-reset tokens: the token hashes the password, so it stops working the moment the
invitee sets one, and re-inviting (which resets the unusable password) voids earlier links.
"""

from __future__ import annotations

import logging

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from studio_portal.accounts.models import User
from studio_portal.audit.services import audit_log_write
from studio_portal.messaging import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    email_sender,
)
from studio_portal.phone_numbers import normalize_phone
from studio_portal.tenants.addresses import studio_base_url
from studio_portal.tenants.models import Studio
from studio_portal.tenants.selectors import current_studio

logger = logging.getLogger(__name__)

MAX_RETENTION_DAYS = 90


def invite_link_path(user: User) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("invite-accept", kwargs={"uidb64": uidb64, "token": token})


def _send_invite(user: User, invited_by: User | None) -> str:
    studio = current_studio()
    link = studio_base_url(studio) + invite_link_path(user)
    inviter = invited_by.get_full_name() or invited_by.get_username() if invited_by else "The owner"
    role = user.get_role_display().lower()
    text = (
        f"{inviter} invited you to join {studio.name} on Cradle as a {role}.\n\n"
        f"Set your password here (the link works once, for 3 days):\n{link}\n\n"
        f"Your username is {user.get_username()}.\n"
    )
    email_sender().send(
        OutgoingMessage(
            to=user.email,
            subject=f"Join {studio.name} on Cradle",
            text=text,
            from_name=studio.name,
        )
    )
    return link


@transaction.atomic
def team_member_invite(*, email: str, role: str, invited_by: User | None = None) -> User:
    """Create (or renew) a pending member and email a one-time link to set a password."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError(
            "Enter the new member's email address, e.g. sam@example.com."
        ) from exc
    if role not in User.Role.values:
        raise ValidationError("Choose a role: owner or sonographer.")
    user = (
        User.objects.filter(email__iexact=email).first()
        or User.objects.filter(username__iexact=email).first()
    )
    if user is not None and user.is_active and user.has_usable_password():
        raise ValidationError(f"{email} is already on the team.")
    if user is None:
        user = User(username=email, email=email)
    user.role = role
    user.is_active = True
    user.set_unusable_password()  # a fresh random marker: earlier invite links stop working
    user.save()
    # The email goes out after commit, so a failed write never leaves a link to nothing.
    transaction.on_commit(lambda: _send_invite(user, invited_by))
    audit_log_write(action="team.invited", obj=user, actor=invited_by, detail={"role": role})
    return user


def invite_user_for_link(*, uidb64: str, token: str) -> User | None:
    """The pending member a link belongs to, or None when the link is wrong or already used."""
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        return None
    if not user.is_active or not default_token_generator.check_token(user, token):
        return None
    return user


@transaction.atomic
def invite_accept(*, uidb64: str, token: str, password: str) -> User:
    user = invite_user_for_link(uidb64=uidb64, token=token)
    if user is None:
        raise ValidationError(
            "This invitation link has been used or has expired. Ask the studio owner for a new one."
        )
    validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def _owners_left_after(member: User) -> int:
    return User.objects.filter(role=User.Role.OWNER, is_active=True).exclude(pk=member.pk).count()


@transaction.atomic
def team_member_role_change(*, member: User, role: str, changed_by: User | None = None) -> User:
    if role not in User.Role.values:
        raise ValidationError("Choose a role: owner or sonographer.")
    if (
        member.role == User.Role.OWNER
        and role != User.Role.OWNER
        and not _owners_left_after(member)
    ):
        raise ValidationError(
            "A studio needs at least one owner. Make someone else an owner first."
        )
    previous = member.role
    member.role = role
    member.save(update_fields=["role"])
    audit_log_write(
        action="team.role_changed",
        obj=member,
        actor=changed_by,
        detail={"from": previous, "to": role},
    )
    return member


@transaction.atomic
def team_member_remove(*, member: User, removed_by: User) -> None:
    """Deactivate rather than delete: audit entries and jobs keep pointing at who did them."""
    if member.pk == removed_by.pk:
        raise ValidationError("You cannot remove yourself. Ask another owner to do it.")
    if member.role == User.Role.OWNER and not _owners_left_after(member):
        raise ValidationError("A studio needs at least one owner.")
    member.is_active = False
    member.set_unusable_password()
    member.save(update_fields=["is_active", "password"])
    audit_log_write(action="team.removed", obj=member, actor=removed_by, detail={})


@transaction.atomic
def studio_retention_set(*, studio: Studio, days: int, changed_by: User | None = None) -> Studio:
    """How long scans and portraits are kept; the privacy promise caps it at 90 days."""
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise ValidationError(f"Keep scans between 1 and {MAX_RETENTION_DAYS} days.")
    previous = studio.retention_days
    Studio.objects.filter(pk=studio.pk).update(retention_days=days)
    studio.retention_days = days
    audit_log_write(
        action="studio.retention_changed",
        obj=studio,
        actor=changed_by,
        detail={"from": previous, "to": days},
    )
    return studio


def password_reset_link_path(user: User) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password-reset-confirm", kwargs={"uidb64": uidb64, "token": token})


def password_reset_send(*, email: str) -> int:
    """Email a one-time "choose a new password" link to every active member with ``email`` and
    a password (an invitee who never set one uses her invitation). Returns how many went; the
    page never says, so it tells nobody which addresses have an account.

    The link is built on the studio's own address, never the request's Host header, and uses
    Django's reset token: it stops working once the password changes, or after
    PASSWORD_RESET_TIMEOUT.
    """
    studio = current_studio()
    sent = 0
    members = User.objects.filter(email__iexact=email.strip(), is_active=True)
    for user in members:
        if not user.has_usable_password():
            continue
        link = studio_base_url(studio) + password_reset_link_path(user)
        text = (
            f"Someone asked to reset the password of your {studio.name} account on Cradle.\n\n"
            f"Choose a new password here (the link works once, for 3 days):\n{link}\n\n"
            f"Your username is {user.get_username()}.\n\n"
            "If it was not you, ignore this email: your password stays as it is.\n"
        )
        try:
            email_sender().send(
                OutgoingMessage(
                    to=user.email,
                    subject=f"Reset your {studio.name} password",
                    text=text,
                    from_name=studio.name,
                )
            )
        except (PermanentDeliveryError, TransientDeliveryError) as exc:
            logger.warning("password reset email for user %s not sent: %s", user.pk, exc)
            continue
        sent += 1
    return sent


@transaction.atomic
def studio_profile_update(
    *,
    studio: Studio,
    name: str,
    contact_email: str,
    contact_phone: str,
    changed_by: User | None = None,
) -> Studio:
    """The studio's name and how parents reach it (owner only, checked by the view). Galleries
    already sent keep the name and brand they were sent with until the owner republishes
    them; new portraits, galleries and messages use these at once."""
    errors: dict[str, list[str]] = {}
    name = " ".join(name.split())
    if not name or len(name) > 120:
        errors["name"] = ["Give the studio's name (up to 120 characters)."]
    contact_email = contact_email.strip().lower()
    if contact_email:
        try:
            validate_email(contact_email)
        except ValidationError:
            errors["contact_email"] = ["Give an email address like hello@yourstudio.com."]
    try:
        contact_phone = normalize_phone(contact_phone)
    except ValidationError as exc:
        errors["contact_phone"] = exc.messages
    if errors:
        raise ValidationError(errors)
    values = {"name": name, "contact_email": contact_email, "contact_phone": contact_phone}
    changed = {
        field: {"from": getattr(studio, field), "to": value}
        for field, value in values.items()
        if getattr(studio, field) != value
    }
    if not changed:
        return studio
    # update(), not save(): django-tenants refuses save() of a tenant from its own schema.
    Studio.objects.filter(pk=studio.pk).update(**values)
    for field, value in values.items():
        setattr(studio, field, value)
    audit_log_write(action="studio.profile_changed", obj=studio, actor=changed_by, detail=changed)
    return studio
