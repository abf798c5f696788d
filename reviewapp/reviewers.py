"""Reviewer accounts and their memberships: people invited by username, accounts an owner
creates for new reviewers, and automatic judges (accounts without a password that review
with API tokens). Crowd participants' accounts are made where they join, in invites.py.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from .access import experiments_for_owner
from .models import Membership
from .tokens import create_token


class ReviewerConflict(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code


def _is_judge_account(user, owner) -> bool:
    """An account made for an automatic judge (API tokens only, automatic memberships only)
    whose every experiment this owner manages: only then may the owner reuse it, since its
    tokens can review all those experiments."""
    if user.has_usable_password() or user.is_staff or user.is_superuser:
        return False
    if user.user_permissions.exists() or user.groups.exists():
        return False
    memberships = Membership.objects.filter(user=user)
    if memberships.exclude(kind=Membership.Kind.AUTOMATIC).exists():
        return False
    managed = experiments_for_owner(owner).values("pk")
    return not memberships.exclude(experiment__in=managed).exists()


def add_automatic_reviewer(experiment, name: str, owner) -> tuple[Membership, str]:
    """An automatic reviewer (an account without password) in the experiment, and a new API
    token for it. The same name again reuses the account when `owner` manages all of its
    experiments; a name taken by anybody else is a conflict."""
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: name}).first()
    if user is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(**{User.USERNAME_FIELD: name})
        except IntegrityError:
            raise ReviewerConflict(409, "conflict", f"The name {name!r} was just taken.") from None
    elif not _is_judge_account(user, owner):
        raise ReviewerConflict(
            409, "conflict", f"The name {name!r} is taken; choose another for this reviewer."
        )
    membership, _ = Membership.objects.get_or_create(
        experiment=experiment, user=user, defaults={"kind": Membership.Kind.AUTOMATIC}
    )
    _, token = create_token(user, f"automatic reviewer in {experiment.slug}")
    return membership, token


def add_human_reviewer(experiment, username: str) -> Membership:
    """Invites an existing user, as the experiment page does."""
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}, is_active=True).first()
    if user is None:
        raise ReviewerConflict(400, "no_such_user", f"No user named {username!r}.")
    membership, _ = Membership.objects.get_or_create(experiment=experiment, user=user)
    if membership.kind != Membership.Kind.HUMAN:
        raise ReviewerConflict(
            409, "conflict", f"{username!r} is an automatic reviewer in this experiment."
        )
    return membership


def create_reviewer_account(experiment, username: str) -> tuple[Membership, str]:
    """A new account with a generated password, reviewing this experiment: the membership
    and the password (shown to the owner once, never stored in clear). Raises
    ReviewerConflict for a malformed or taken username."""
    User = get_user_model()
    username = username.strip()
    try:
        if not username or len(username) > 150:
            raise ValidationError("a username is 1 to 150 characters")
        UnicodeUsernameValidator()(username)
    except ValidationError as invalid:
        message = f"{username[:150]!r} cannot be a username: {' '.join(invalid.messages)}"
        raise ReviewerConflict(400, "invalid_username", message) from None
    password = secrets.token_urlsafe(12)
    try:
        with transaction.atomic():
            user = User.objects.create_user(**{User.USERNAME_FIELD: username}, password=password)
            membership = Membership.objects.create(experiment=experiment, user=user)
    except IntegrityError:
        message = f"The username {username!r} is taken; invite that person by username instead."
        raise ReviewerConflict(409, "conflict", message) from None
    return membership, password
