"""API tokens: created once, stored as a SHA-256 hash, checked on every API request.

A token is "ra_" + 43 url-safe characters (32 random bytes). Only its hash is stored, so a
leaked database does not leak working tokens; the token itself is shown once, when it is
created. A lookup hashes the presented token and finds the row by its unique hash: the
database compares hashes, never the secret, so timing reveals nothing about a token.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db.models import F, Q
from django.utils import timezone

from .access import experiments_for_owner
from .models import ApiToken, Membership

PREFIX = "ra_"
# Long enough to tell a user's tokens apart in the list, far too short to guess the rest.
SHOWN_CHARS = 10
# Updating last_used_at on every request would turn every API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Anything longer is not one of ours; refuse it before hashing.
MAX_TOKEN_CHARS = 200


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(user, name: str = "") -> tuple[ApiToken, str]:
    """A new token for the user: (the stored row, the token itself, to show once)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, name=name[:100], key_hash=hash_token(token), prefix=token[:SHOWN_CHARS]
    )
    return row, token


def verify_token(token: str, now=None) -> ApiToken | None:
    """The live token row (with its user) for a presented token, or None.

    Revoked tokens and tokens of deactivated users are refused."""
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    key_hash = hash_token(token)
    row = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=key_hash, revoked_at__isnull=True)
        .first()
    )
    if row is None or not hmac.compare_digest(row.key_hash, key_hash):
        return None
    if not row.user.is_active:
        return None
    now = now or timezone.now()
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_RESOLUTION:
        # A conditional update: concurrent requests write once, not once each.
        ApiToken.objects.filter(pk=row.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        row.last_used_at = now
    return row


def revoke_token(row: ApiToken) -> None:
    if row.revoked_at is None:
        ApiToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )


def tokens_for_owner(user):
    """Tokens this user may see and revoke: their own, and those of the automatic reviewers
    in experiments they own or that were shared with them."""
    judges = Membership.objects.filter(
        kind=Membership.Kind.AUTOMATIC, experiment__in=experiments_for_owner(user)
    ).values("user_id")
    return (
        ApiToken.objects.filter(Q(user=user) | Q(user__in=judges))
        .select_related("user")
        .order_by(F("revoked_at").asc(nulls_first=True), "-created_at")
    )
