"""Reviewer quality: gold accuracy and the flags owners see next to each reviewer.

The thresholds are the documented ones (README, "Running a crowd study"); the tests build a
reviewer who deserves each flag and a careful one who deserves none.
"""

from dataclasses import dataclass

from . import stats

POSITION_BIAS_MIN_DECIDED = 20
POSITION_BIAS_P = 0.01
GOLD_MIN_PAIRS = 5
GOLD_MIN_ACCURACY = 0.70
AGREEMENT_MIN_ITEMS = 20
AGREEMENT_RATIO = 0.85
AGREEMENT_P = 0.01


@dataclass(frozen=True)
class GoldScore:
    correct: int  # judgments matching the expected answer
    judged: int  # judgments on (gold pair, dimension) with an expected answer
    pairs: int  # gold pairs judged

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.judged if self.judged else None


def reviewer_flags(
    *,
    decided: int,
    left_share: float | None,
    median_seconds: float | None,
    too_fast_seconds: float,
    gold: GoldScore | None,
    majority_items: int,
    majority_agreed: int,
    pooled_majority_agreement: float | None,
) -> list[str]:
    """The quality flags of one reviewer (strings, in a fixed order)."""
    flags = []
    if decided >= POSITION_BIAS_MIN_DECIDED and left_share is not None:
        left_wins = round(left_share * decided)
        p = stats.binomial_test_two_sided(left_wins, decided, 0.5)
        if p is not None and p < POSITION_BIAS_P:
            flags.append("position_bias")
    # A median of exactly 0 s means no timing at all (judgments imported without
    # seconds_on_pair); a real reviewer always takes some time.
    if median_seconds is not None and 0 < median_seconds < too_fast_seconds:
        flags.append("too_fast")
    if gold is not None and gold.pairs >= GOLD_MIN_PAIRS and gold.accuracy < GOLD_MIN_ACCURACY:
        flags.append("low_gold_accuracy")
    pooled = pooled_majority_agreement
    if majority_items >= AGREEMENT_MIN_ITEMS and pooled is not None and 0 < pooled < 1:
        rate = majority_agreed / majority_items
        p = stats.binomial_test_one_sided_less(majority_agreed, majority_items, pooled)
        if rate < AGREEMENT_RATIO * pooled and p is not None and p < AGREEMENT_P:
            flags.append("low_agreement")
    return flags
