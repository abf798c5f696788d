"""The data, in the order it flows: Experiment -> Pair -> Assignment -> Judgment.

Choices are stored in content terms (A/B/tie); the screen side lives only on the
Assignment (`left_is_a`), so the clicked side can always be reconstructed.

Split by what the rows are about; import everything from `reviewapp.models`.
"""

from reviewapp.models.accounts import ApiToken, UploadJob
from reviewapp.models.experiments import (
    DEFAULT_DIMENSIONS,
    Dimension,
    Experiment,
    InviteLink,
    Membership,
    new_completion_code,
    new_invite_token,
    new_review_key,
    new_seed,
)
from reviewapp.models.pairs import Assignment, Judgment, Pair, left_and_right, pair_shuffle_key

__all__ = [
    "DEFAULT_DIMENSIONS",
    "ApiToken",
    "Assignment",
    "Dimension",
    "Experiment",
    "InviteLink",
    "Judgment",
    "Membership",
    "Pair",
    "UploadJob",
    "left_and_right",
    "new_completion_code",
    "new_invite_token",
    "new_review_key",
    "new_seed",
    "pair_shuffle_key",
]
