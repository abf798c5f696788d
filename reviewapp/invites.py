"""Invite links: external reviewers (crowd workers) join an experiment without an account.

A participant is identified by the id their platform puts in the URL (Prolific's
PROLIFIC_PID, MTurk's workerId, or a generic `participant`), or by a name they type.
The same participant coming back is the same reviewer: one Membership per
(experiment, participant id), enforced by a unique constraint.
"""

import hashlib

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import InviteLink, Membership

# URL parameters that carry the participant's id, in order of preference.
PARTICIPANT_PARAMS = ("PROLIFIC_PID", "workerId", "participant", "participant_id", "pid")
# Parameters kept for the audit trail when present.
PLATFORM_PARAMS = ("STUDY_ID", "SESSION_ID", "assignmentId", "hitId", "turkSubmitTo")
MAX_PARTICIPANT_CHARS = 200


class InviteRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def participant_from_params(params) -> str:
    for name in PARTICIPANT_PARAMS:
        value = (params.get(name) or "").strip()
        if value:
            return value[:MAX_PARTICIPANT_CHARS]
    return ""


def platform_data_from_params(params) -> dict:
    return {k: params[k][:200] for k in PLATFORM_PARAMS if params.get(k)}


def check_link_open(link: InviteLink) -> None:
    if link.revoked_at is not None:
        raise InviteRefused("revoked", "This invite link has been withdrawn by the study owner.")
    if link.expires_at is not None and link.expires_at <= timezone.now():
        raise InviteRefused("expired", "This invite link has expired.")
    if not link.experiment.is_open:
        raise InviteRefused("closed", "This study is not collecting answers right now.")


def participant_username(link: InviteLink, participant_id: str) -> str:
    # Stable and unique per (experiment, participant), readable in exports.
    digest = hashlib.sha256(f"{link.experiment_id}:{participant_id}".encode()).hexdigest()[:8]
    # The experiment's id, not its slug: the slug may name the models, and this user is a
    # blind reviewer.
    return f"{participant_id[:100]}~e{link.experiment_id}~{digest}"


def join_via_invite(link: InviteLink, participant_id: str, platform_data: dict) -> Membership:
    """The participant's membership, created on first use, resumed afterwards."""
    participant_id = participant_id.strip()[:MAX_PARTICIPANT_CHARS]
    if not participant_id:
        raise InviteRefused("no_participant", "Please enter a name or participant id.")
    if link.revoked_at is not None:
        raise InviteRefused("revoked", "This invite link has been withdrawn by the study owner.")
    existing = Membership.objects.filter(
        experiment_id=link.experiment_id, participant_id=participant_id
    ).first()
    if existing is not None:
        return existing  # resuming: expiry and the cap only stop new participants
    check_link_open(link)
    try:
        with transaction.atomic():
            locked = InviteLink.objects.select_for_update().get(pk=link.pk)
            if locked.max_reviewers is not None and locked.members.count() >= locked.max_reviewers:
                raise InviteRefused("full", "This study has all the participants it needs.")
            # No usable password: this reviewer only ever comes back through the link.
            user = get_user_model().objects.create_user(
                username=participant_username(link, participant_id),
                first_name=participant_id[:150],
            )
            return Membership.objects.create(
                experiment_id=link.experiment_id,
                user=user,
                participant_id=participant_id,
                invite=locked,
                quota=locked.quota,
                platform_data=platform_data,
            )
    except IntegrityError:
        # The same participant opened the link twice at the same moment.
        return Membership.objects.get(
            experiment_id=link.experiment_id, participant_id=participant_id
        )
