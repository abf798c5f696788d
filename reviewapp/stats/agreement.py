"""Agreement between raters on nominal categories."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from ._checks import _count_matrix


def percent_agreement(counts) -> float | None:
    """Observed pairwise agreement, averaged over items.

    Formula: for item ``i`` with ``n_i >= 2`` ratings,
    ``P_i = sum_c n_ic (n_ic - 1) / (n_i (n_i - 1))`` (share of agreeing ordered rater
    pairs); the result is the unweighted mean of ``P_i`` over those items (items with fewer
    than 2 ratings have no pairs and are skipped). Reference: Fleiss (1971), eq. 2 and the
    mean ``P-bar`` (with a constant ``n_i`` this is Fleiss' observed agreement).

    ``counts``: ``(items, categories)`` counts. Returns ``None`` when no item has 2 ratings.
    """
    counts = _count_matrix(counts)
    per_item = counts.sum(axis=1)
    keep = per_item >= 2
    if not keep.any():
        return None
    counts, per_item = counts[keep], per_item[keep]
    agreeing = (counts * (counts - 1.0)).sum(axis=1)
    return float(np.mean(agreeing / (per_item * (per_item - 1.0))))


def fleiss_kappa(counts) -> float | None:
    """Fleiss' kappa for a constant number of ratings per item.

    Formula: ``kappa = (P - P_e) / (1 - P_e)`` with ``P`` the mean over items of
    ``P_i = sum_j n_ij (n_ij - 1) / (n (n - 1))``, ``p_j = sum_i n_ij / (N n)`` and
    ``P_e = sum_j p_j^2``. Reference: J. L. Fleiss (1971), "Measuring nominal scale agreement
    among many raters", Psychological Bulletin 76(5):378-382, eqs. 2-6; same numbers as
    statsmodels ``fleiss_kappa(counts, method="fleiss")``.

    ``counts``: ``(items, categories)`` counts whose rows all sum to the same ``n >= 2``;
    otherwise ``ValueError`` (filter the items, or use :func:`krippendorff_alpha_nominal`,
    which allows a varying number of ratings). Returns ``None`` when there are no items or
    when ``P_e == 1`` (every rating in one category: agreement cannot be told from chance;
    statsmodels gives NaN there). Perfect agreement spread over several categories gives
    1.0.
    """
    counts = _count_matrix(counts)
    if counts.shape[0] == 0:
        return None
    per_item = counts.sum(axis=1)
    n = per_item[0]
    if np.any(per_item != n):
        raise ValueError("fleiss_kappa needs the same number of ratings for every item")
    if n < 2:
        raise ValueError("fleiss_kappa needs at least 2 ratings per item")
    totals = counts.sum(axis=0)
    # P_e == 1 exactly when a single category holds every rating; test on the counts.
    if np.count_nonzero(totals) <= 1:
        return None
    observed = float(np.mean((counts * (counts - 1.0)).sum(axis=1) / (n * (n - 1.0))))
    shares = totals / totals.sum()
    expected = float(np.sum(shares**2))
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha_nominal(counts) -> float | None:
    """Krippendorff's alpha for nominal data, any number of raters, missing ratings allowed.

    Formula: coincidences ``o_ck = sum_u (n_uc n_uk - [c == k] n_uc) / (n_u - 1)`` over the
    items ``u`` with ``n_u >= 2`` ratings (others are unpairable and dropped); ``n_c =
    sum_k o_ck``, ``n = sum_c n_c``; ``alpha = 1 - D_o / D_e = 1 - (n - 1) (n - sum_c o_cc)
    / (n^2 - sum_c n_c^2)``. Reference: K. Krippendorff (2011), "Computing Krippendorff's
    Alpha-Reliability", Annenberg School for Communication, Univ. of Pennsylvania, sec. C
    (nominal data, any number of observers, missing data); same numbers as the
    ``krippendorff`` package, ``level_of_measurement="nominal"``.

    ``counts``: ``(items, categories)`` counts, rows may sum to different numbers. Returns
    ``None`` when ``D_e == 0``: no pairable ratings, or every pairable rating in one
    category. Perfect agreement spread over several categories gives 1.0.
    """
    counts = _count_matrix(counts)
    per_item = counts.sum(axis=1)
    keep = per_item >= 2
    counts, per_item = counts[keep], per_item[keep]
    totals = counts.sum(axis=0)  # n_c: every pairable value is paired, so these are the margins
    if np.count_nonzero(totals) <= 1:
        return None
    n = float(totals.sum())
    agreeing = float(np.sum((counts * (counts - 1.0)).sum(axis=1) / (per_item - 1.0)))
    disagreement_expected = n * n - float(np.sum(totals**2))
    return 1.0 - (n - 1.0) * (n - agreeing) / disagreement_expected


def cohen_kappa_from_table(table) -> float | None:
    """Cohen's kappa from a two-rater contingency table.

    Formula: ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o = sum_c t_cc / N`` and
    ``p_e = sum_c (row_c / N)(col_c / N)``. Reference: J. Cohen (1960), "A coefficient of
    agreement for nominal scales", Educ. Psychol. Meas. 20(1):37-46; same numbers as
    scikit-learn ``cohen_kappa_score``.

    ``table[a, b]``: number of items rater A put in category ``a`` and rater B in ``b``
    (same category order on both axes). Returns ``None`` when there are no items or
    ``p_e == 1`` (both raters used one and the same category for everything).
    """
    table = _count_matrix(table, "table")
    if table.shape[0] != table.shape[1]:
        raise ValueError("table must be square (same categories for both raters)")
    total = table.sum()
    if total == 0:
        return None
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    # p_e == 1 iff both margins sit entirely on the same single category.
    if np.count_nonzero(rows) == 1 and np.array_equal(rows > 0, cols > 0):
        return None
    observed = float(np.trace(table) / total)
    expected = float(np.sum(rows * cols) / (total * total))
    return (observed - expected) / (1.0 - expected)


def cohen_kappa(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters from their labels on the same items, in the same order.

    Builds the contingency table over the union of the labels seen and applies
    :func:`cohen_kappa_from_table` (Cohen 1960). Returns ``None`` for no items or
    ``p_e == 1``.
    """
    labels_a, labels_b = list(labels_a), list(labels_b)
    if len(labels_a) != len(labels_b):
        raise ValueError("labels_a and labels_b must have the same length")
    categories = {label: index for index, label in enumerate(dict.fromkeys(labels_a + labels_b))}
    table = np.zeros((len(categories), len(categories)))
    for a, b in zip(labels_a, labels_b, strict=True):
        table[categories[a], categories[b]] += 1
    return cohen_kappa_from_table(table)
