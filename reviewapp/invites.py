"""Invite links: external reviewers (crowd workers) join an experiment without an account.

A participant is identified by the id their platform puts in the URL (Prolific's
PROLIFIC_PID, MTurk's workerId, or a generic `participant`), or by a name they type.
The same participant coming back is the same reviewer: one Membership per
(experiment, participant id), enforced by a unique constraint.

Ids are often guessable (a name, a platform id seen elsewhere), so coming back takes the
resume code the participant was given on joining (kept in a long-lived cookie and shown on
their first page), never the id alone. Opening a link changes nothing: joining is a POST
(views/invites.py), so a page elsewhere cannot sign a visitor in as someone else.
"""

import hashlib
import hmac
import secrets

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import InviteLink, Membership

# URL parameters that carry the participant's id, in order of preference.
PARTICIPANT_PARAMS = ("PROLIFIC_PID", "workerId", "participant", "participant_id", "pid")
# Parameters kept for the audit trail when present.
PLATFORM_PARAMS = ("STUDY_ID", "SESSION_ID", "assignmentId", "hitId", "turkSubmitTo")
MAX_PARTICIPANT_CHARS = 200
# 12 symbols of 32 (no 0/O, 1/I): 60 bits, beyond guessing online, and short enough to
# copy by hand from one device to another.
RESUME_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
RESUME_CODE_LENGTH = 12


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


def new_resume_code() -> str:
    """A fresh code, grouped by four for reading aloud or copying: ABCD-EFGH-JKLM."""
    code = "".join(secrets.choice(RESUME_CODE_ALPHABET) for _ in range(RESUME_CODE_LENGTH))
    return "-".join(code[i : i + 4] for i in range(0, RESUME_CODE_LENGTH, 4))


def resume_code_hash(code: str) -> str:
    """The stored form of a code; case, spaces and dashes as typed do not matter."""
    normal = "".join(c for c in code.upper() if c.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


def resume_code_matches(membership: Membership, code: str) -> bool:
    if not membership.resume_code_hash or not code:
        return False
    return hmac.compare_digest(membership.resume_code_hash, resume_code_hash(code))


def join_via_invite(
    link: InviteLink, participant_id: str, platform_data: dict, resume_code: str = ""
) -> tuple[Membership, str]:
    """(membership, new resume code): a new participant's membership and the code they
    come back with (shown to them once), or a returning participant's membership and ""
    when `resume_code` is theirs."""
    participant_id = participant_id.strip()[:MAX_PARTICIPANT_CHARS]
    if not participant_id:
        raise InviteRefused("no_participant", "Please enter a name or participant id.")
    if link.revoked_at is not None:
        raise InviteRefused("revoked", "This invite link has been withdrawn by the study owner.")
    existing = Membership.objects.filter(
        experiment_id=link.experiment_id, participant_id=participant_id
    ).first()
    if existing is not None:
        return _resume(existing, resume_code), ""
    check_link_open(link)
    code = new_resume_code()
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
            membership = Membership.objects.create(
                experiment_id=link.experiment_id,
                user=user,
                participant_id=participant_id,
                invite=locked,
                quota=locked.quota,
                platform_data=platform_data,
                resume_code_hash=resume_code_hash(code),
            )
            return membership, code
    except IntegrityError:
        # The same id joined at the same moment from elsewhere: only its code resumes it.
        existing = Membership.objects.get(
            experiment_id=link.experiment_id, participant_id=participant_id
        )
        return _resume(existing, resume_code), ""


def _resume(membership: Membership, resume_code: str) -> Membership:
    # Expiry and the cap only stop new participants; a wrong code stops everyone.
    if not resume_code_matches(membership, resume_code):
        message = (
            "This participant id has joined already. To continue, enter the resume code you "
            "were given when you joined (or open your resume link)."
        )
        if resume_code:
            message = "That resume code is not the one given to this participant id."
        raise InviteRefused("resume_code", message)
    return membership
