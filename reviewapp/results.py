"""Where database aggregates become arrays, and arrays become the results of an experiment.

Everything is counted in the database, in one statement (`_aggregate`); Python and numpy
only see aggregated counts: per dimension x model pair x item pattern, per reviewer pair x
category pair, per reviewer x outcome. Nothing here builds one Python object per judgment,
so the cost in Python does not grow with the number of judgments (bench/bench_results.py).

`compute_results(experiment)` returns one plain dict (the JSON of results.json, the
results page and the `results` command all use it); the definitions are in
the README ("Results") and the statistics themselves in stats.py.

Which judgments count: those of submitted assignments whose reviewer is not excluded
(`Membership.excluded`) and, unless asked, not an automatic judge (`Membership.kind`).
A reviewer without a membership row (removed from the experiment) counts as a human.
Gold pairs (`Pair.is_gold`, attention checks) never count in the preference statistics.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from . import quality, stats
from .models import Assignment, Dimension, Experiment, Judgment, Membership, Pair

COHEN_MIN_SHARED_ITEMS = 10
# PostgreSQL work_mem for the one aggregate statement (rows of ~100 bytes per assignment).
AGGREGATE_WORK_MEM = "64MB"
CONFIDENCE = 0.95
POWER = 0.8


@dataclass
class PairCounts:
    """Outcomes of one model pair on one dimension, oriented as X vs Y."""

    model_x: str
    model_y: str
    x_wins: int = 0
    y_wins: int = 0
    ties: int = 0

    @property
    def n(self) -> int:
        return self.x_wins + self.y_wins + self.ties


def orient(model_a: str, model_b: str, baseline: str) -> tuple[str, str]:
    """X vs Y: Y is the baseline when it is one of the two, else X < Y alphabetically
    (Python's code-point order, never the database collation)."""
    if baseline and baseline in (model_a, model_b):
        other = model_b if model_a == baseline else model_a
        return other, baseline
    return (model_a, model_b) if model_a < model_b else (model_b, model_a)


# --------------------------------------------------------------------------- SQL


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _seconds_expression(alias: str) -> str:
    shown, submitted = f"{alias}.shown_at", f"{alias}.submitted_at"
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({submitted} - {shown}))"
    if connection.vendor == "sqlite":
        return f"(julianday({submitted}) - julianday({shown})) * 86400.0"
    if connection.vendor == "mysql":
        return f"TIMESTAMPDIFF(MICROSECOND, {shown}, {submitted}) / 1000000.0"
    raise NotImplementedError(f"seconds per pair on {connection.vendor}")


def _combos_cte(combos: list[tuple[str, str, bool]]) -> tuple[str, list]:
    """A CTE `combos(model_a, model_b, k, flip)`: every (model A, model B) of the
    experiment's pairs, numbered k, flip = 1 when A is model Y (so Python, not the
    database collation, decides the orientation)."""
    if not combos:
        return "combos(model_a, model_b, k, flip) AS (SELECT '', '', 0, 0 WHERE 1 = 0)", []
    values = ", ".join(f"(%s, %s, {k}, {int(flip)})" for k, (_, _, flip) in enumerate(combos))
    params = [name for model_a, model_b, _ in combos for name in (model_a, model_b)]
    return f"combos(model_a, model_b, k, flip) AS (VALUES {values})", params


# Choices of one assignment on up to this many dimensions share one BIGINT, 2 bits each.
_DIMENSIONS_PER_CODE = 30


# Rows of `_aggregate`, told apart by their first column; the other columns are generic:
# (kind, dimension index, text 1, text 2, n1 .. n7, f).
#   P  per dimension, model combination k and item pattern: n1..n3 = judgments for A, for
#      B, ties on the item; n4 = items with that pattern; n5, n6 = wins of the left, of the
#      right output (known screen side only); n7 = k.
#   C  per dimension and reviewer pair: n1 < n2 reviewer ids, n3, n4 their choices (1 A,
#      2 B, 3 tie), n5 = 1 when A is model Y for the pair, n6 = items.
#   R  first dimension, per reviewer (every reviewer, counted or not): n1 reviewer, n2 own
#      choice, n3 screen side (1 A on the left, 0 B on the left, -1 unknown), n4..n6 the
#      counted reviewers' A / B / tie on the same item (NULL: none), n7 = items.
#   S  per reviewer: f = median seconds per pair over all submitted assignments.
_SUM_IF = "SUM(CASE WHEN {} THEN 1 ELSE 0 END)"
# Typed NULLs: PostgreSQL resolves UNION column types branch by branch.
_INT, _TEXT, _FLOAT = "CAST(NULL AS BIGINT)", "CAST(NULL AS TEXT)", "CAST(NULL AS DOUBLE PRECISION)"


def _aggregate(
    experiment: Experiment,
    dimension_ids: list[int],
    excluded_ids: list[int],
    combos: list[tuple[str, str, bool]],
    *,
    parts: tuple[str, ...] = ("P", "C", "R", "S"),
) -> list[tuple]:
    """Every count the results need, in ONE statement, so the judgments are read once.

    The experiment's judgments (those on its dimensions) are first folded into one narrow
    row per assignment, its choices on every dimension packed into integers (`t`); every
    later step works on those rows (a fifth of the judgments with the default rubric) or on
    per-pair sums of them (`items`), and compares integers, never model names."""
    j, a, p = _table(Judgment), _table(Assignment), _table(Pair)
    n_dims = len(dimension_ids)
    n_codes = (n_dims + _DIMENSIONS_PER_CODE - 1) // _DIMENSIONS_PER_CODE
    choice = "CASE j.choice WHEN 'A' THEN 1 WHEN 'B' THEN 2 ELSE 3 END"
    code_columns, code_params = [], []
    for q in range(n_codes):
        chunk = dimension_ids[q * _DIMENSIONS_PER_CODE : (q + 1) * _DIMENSIONS_PER_CODE]
        weights = " ".join(f"WHEN %s THEN {4**i}" for i in range(len(chunk)))
        # BIGINT: PostgreSQL sums BIGINTs into NUMERIC, whose "/" is not integer division.
        code_columns.append(
            f"CAST(SUM({choice} * CASE j.dimension_id {weights} ELSE 0 END) AS BIGINT) AS code{q}"
        )
        code_params += chunk
    choice_columns = ", ".join(
        f"(jj.code{i // _DIMENSIONS_PER_CODE} / {4 ** (i % _DIMENSIONS_PER_CODE)}) %% 4 AS c{i}"
        for i in range(n_dims)
    )
    combos_cte, combo_params = _combos_cte(combos)
    if excluded_ids:
        counted = f"WHERE r NOT IN ({', '.join(['%s'] * len(excluded_ids))})"
    else:
        counted = ""
    item_columns = ", ".join(
        f"{_SUM_IF.format(f'c{i} = 1')} AS a{i}, {_SUM_IF.format(f'c{i} = 2')} AS b{i}, "
        f"{_SUM_IF.format(f'c{i} = 3')} AS t{i}, "
        f"{_SUM_IF.format(f'(c{i} = 1 AND side = 1) OR (c{i} = 2 AND side = 0)')} AS l{i}, "
        f"{_SUM_IF.format(f'(c{i} = 1 AND side = 0) OR (c{i} = 2 AND side = 1)')} AS g{i}"
        for i in range(n_dims)
    )
    ctes = [
        combos_cte,
        # Gold pairs (attention checks) never count in the preference statistics.
        f"""pair_info AS (
            SELECT p.id AS pair_id, c.k AS k, c.flip AS flip
            FROM {p} p JOIN combos c ON c.model_a = p.model_a AND c.model_b = p.model_b
            WHERE p.experiment_id = %s AND NOT p.is_gold
        )""",
        # c0, c1, ...: the choice on each dimension, 1 A, 2 B, 3 tie, 0 not judged.
        f"""t AS (
            SELECT a.pair_id AS pair_id, a.reviewer_id AS r,
                   CASE WHEN a.left_is_a IS NULL THEN -1 WHEN a.left_is_a THEN 1 ELSE 0 END
                       AS side,
                   {choice_columns}
            FROM (
                SELECT j.assignment_id AS assignment_id, {", ".join(code_columns)}
                FROM {j} j WHERE j.dimension_id IN ({", ".join(["%s"] * n_dims)})
                GROUP BY j.assignment_id
            ) jj
            JOIN {a} a ON a.id = jj.assignment_id
            WHERE a.experiment_id = %s AND a.status = 'submitted'
        )""",
        """tp AS (
            SELECT t.*, pi.k AS k, pi.flip AS flip
            FROM t JOIN pair_info pi ON pi.pair_id = t.pair_id
        )""",
        f"tc AS (SELECT * FROM tp {counted})",
        f"items AS (SELECT pair_id, k, {item_columns} FROM tc GROUP BY pair_id, k)",
    ]
    params = [
        *combo_params, experiment.pk, *code_params, *dimension_ids, experiment.pk,
        *excluded_ids,
    ]  # fmt: skip
    selects = []
    if "P" in parts:
        selects += [
            f"""SELECT 'P', {i}, {_TEXT}, {_TEXT}, a{i}, b{i}, t{i}, COUNT(*), SUM(l{i}),
                       SUM(g{i}), k, {_FLOAT}
                FROM items WHERE a{i} + b{i} + t{i} > 0
                GROUP BY k, a{i}, b{i}, t{i}"""
            for i in range(n_dims)
        ]
    if "C" in parts:
        duo_columns = ", ".join(f"x.c{i} AS x{i}, y.c{i} AS y{i}" for i in range(n_dims))
        ctes.append(
            f"""duo AS (
                SELECT x.r AS r1, y.r AS r2, x.flip AS flip, {duo_columns}
                FROM tc x JOIN tc y ON y.pair_id = x.pair_id AND y.r > x.r
            )"""
        )
        selects += [
            f"""SELECT 'C', {i}, {_TEXT}, {_TEXT}, r1, r2, x{i}, y{i}, flip, COUNT(*), {_INT},
                       {_FLOAT}
                FROM duo WHERE x{i} > 0 AND y{i} > 0
                GROUP BY r1, r2, x{i}, y{i}, flip"""
            for i in range(n_dims)
        ]
    if "R" in parts:
        selects.append(
            f"""SELECT 'R', 0, {_TEXT}, {_TEXT}, x.r, x.c0, x.side, i.a0, i.b0, i.t0, COUNT(*),
                      {_FLOAT}
               FROM tp x LEFT JOIN items i ON i.pair_id = x.pair_id
               WHERE x.c0 > 0
               GROUP BY x.r, x.c0, x.side, i.a0, i.b0, i.t0"""
        )
    if "S" in parts:
        # Seconds per pair over every submitted assignment (gold pairs too), read from the
        # assignments alone.
        seconds = f"""SELECT reviewer_id AS r, {_seconds_expression("s")} AS sec
                      FROM {a} s WHERE s.experiment_id = %s AND s.status = 'submitted'"""
        params.append(experiment.pk)
        if connection.vendor == "postgresql":
            median = "percentile_cont(0.5) WITHIN GROUP (ORDER BY sec)"
            selects.append(
                f"""SELECT 'S', 0, {_TEXT}, {_TEXT}, r, {_INT}, {_INT}, {_INT}, {_INT}, {_INT},
                          {_INT}, {median}
                   FROM ({seconds}) AS secs GROUP BY r"""
            )
        else:
            # The mean of the middle one or two rows, by window functions (SQLite).
            selects.append(
                f"""SELECT 'S', 0, {_TEXT}, {_TEXT}, r, {_INT}, {_INT}, {_INT}, {_INT}, {_INT},
                          {_INT}, AVG(sec)
                   FROM (SELECT r, sec, ROW_NUMBER() OVER (PARTITION BY r ORDER BY sec) AS rn,
                                COUNT(*) OVER (PARTITION BY r) AS cnt
                         FROM ({seconds}) AS secs) AS ranked
                   WHERE rn = (cnt + 1) / 2 OR rn = (cnt + 2) / 2 GROUP BY r"""
            )
    sql = "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(selects)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # For this statement only (SET LOCAL). Row estimates through the CTEs are poor
            # (off by orders of magnitude either way), so: no JIT compilation (it cost
            # seconds and saved nothing), no nested loops (an estimate of 1 row made the
            # reviewer self-join quadratic; every join here is between sets already
            # filtered to the experiment, which hash joins handle well), and enough work
            # memory that the per-pair and per-reviewer aggregates do not spill to disk.
            cursor.execute(
                "SELECT set_config('jit', 'off', true), set_config('enable_nestloop', 'off', "
                "true), set_config('work_mem', %s, true)",
                [AGGREGATE_WORK_MEM],
            )
        cursor.execute(sql, params)
        return cursor.fetchall()


def _statistics_reviewers(experiment: Experiment, include_automatic: bool):
    """(excluded_ids, memberships by user id): who is left out of the statistics."""
    memberships = {
        user_id: (kind, excluded)
        for user_id, kind, excluded in Membership.objects.filter(experiment=experiment).values_list(
            "user_id", "kind", "excluded"
        )
    }
    left_out = sorted(
        user_id
        for user_id, (kind, excluded) in memberships.items()
        if excluded or (kind == Membership.Kind.AUTOMATIC and not include_automatic)
    )
    return left_out, memberships


# --------------------------------------------------------------------------- figures


def _none_if_nan(value):
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


@functools.lru_cache(maxsize=8192)
def _min_detectable_win_rate(decided: int) -> float | None:
    # Pure and slow-ish (exact binomial power by bisection): memoised,
    # so reloading a page or a dimension with the same n does not pay again.
    return stats.min_detectable_win_rate(decided, POWER, 0.05)


def _pair_figures(counts: PairCounts) -> dict:
    decided = counts.x_wins + counts.y_wins
    lo, hi = stats.wilson_interval(counts.x_wins, decided, CONFIDENCE)
    rate = counts.x_wins / decided if decided else None
    excludes = None if lo is None else (lo > 0.5 or hi < 0.5)
    needed = stats.judgments_needed_to_exclude_half(counts.x_wins, decided, CONFIDENCE)
    return {
        "model_x": counts.model_x,
        "model_y": counts.model_y,
        "n": counts.n,
        "x_wins": counts.x_wins,
        "y_wins": counts.y_wins,
        "ties": counts.ties,
        "decided": decided,
        "x_win_rate": rate,
        "x_win_rate_ci": [lo, hi],
        "x_win_rate_ties_half": (counts.x_wins + counts.ties / 2) / counts.n if counts.n else None,
        "p_value": stats.binomial_test_two_sided(counts.x_wins, decided),
        "ci_excludes_half": excludes,
        # Non-tie judgments still needed (at the observed rate) for the interval to
        # exclude 50 %; 0 once it does, null when the rate is exactly 50 % or n is 0.
        "more_decided_needed": None if needed is None else needed - decided,
        "min_detectable_win_rate": _min_detectable_win_rate(decided),
    }


def _model_figures(pairs: list[PairCounts], seed: list[int], n_resamples: int) -> list[dict]:
    models = sorted({m for c in pairs for m in (c.model_x, c.model_y)})
    if not models:
        return []
    index = {m: i for i, m in enumerate(models)}
    record = {m: [0, 0, 0] for m in models}  # wins, losses, ties
    for c in pairs:
        record[c.model_x][0] += c.x_wins
        record[c.model_x][1] += c.y_wins
        record[c.model_x][2] += c.ties
        record[c.model_y][0] += c.y_wins
        record[c.model_y][1] += c.x_wins
        record[c.model_y][2] += c.ties
    model_i = [index[c.model_x] for c in pairs]
    model_j = [index[c.model_y] for c in pairs]
    x_wins = [c.x_wins for c in pairs]
    y_wins = [c.y_wins for c in pairs]
    ties = [c.ties for c in pairs]
    if n_resamples > 0:
        fit = stats.bootstrap_bradley_terry(
            len(models), model_i, model_j, x_wins, y_wins, ties,
            seed=np.random.default_rng(seed), n_resamples=n_resamples, confidence=CONFIDENCE,
        )  # fmt: skip
        ratings, ranks, lower, upper = fit.ratings, fit.ranks, fit.lower, fit.upper
    else:
        wins = stats.build_win_matrix(len(models), model_i, model_j, x_wins, y_wins, ties)
        ratings = stats.bradley_terry_ratings(wins)
        ranks = None if ratings is None else stats.rank_ratings(ratings)
        lower = upper = None
    rows = []
    for i, model in enumerate(models):
        wins_, losses, ties_ = record[model]
        rows.append(
            {
                "model": model,
                "wins": wins_,
                "losses": losses,
                "ties": ties_,
                "n": wins_ + losses + ties_,
                "rating": None if ratings is None else ratings[i],
                "rating_ci": [
                    None if lower is None else lower[i],
                    None if upper is None else upper[i],
                ],
                "rank": None if ranks is None else ranks[i],
            }
        )
    # Best first; models without a rating (no MLE) by name.
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["model"]))
    return rows


def _agreement(patterns: np.ndarray, multiplicity: np.ndarray, reviews_per_pair: int) -> dict:
    """`patterns`: (R, 3) distinct per-item counts (X won, Y won, tie); `multiplicity`:
    how many items have each. Expanded to the item x category matrix stats.py expects."""
    per_item = patterns.sum(axis=1)
    keep = per_item >= 2
    counts = np.repeat(patterns[keep], multiplicity[keep], axis=0)
    fleiss_rows = per_item[keep] == reviews_per_pair
    fleiss_counts = np.repeat(patterns[keep][fleiss_rows], multiplicity[keep][fleiss_rows], axis=0)
    return {
        "items": int(counts.shape[0]),
        "percent_agreement": stats.percent_agreement(counts) if counts.shape[0] else None,
        "fleiss_kappa": (
            stats.fleiss_kappa(fleiss_counts)
            if reviews_per_pair >= 2 and fleiss_counts.shape[0]
            else None
        ),
        "fleiss_items": int(fleiss_counts.shape[0]) if reviews_per_pair >= 2 else 0,
        "krippendorff_alpha": stats.krippendorff_alpha_nominal(counts) if counts.shape[0] else None,
    }


def _cohen(tables: dict[tuple[int, int], np.ndarray], names: dict[int, str]) -> dict:
    detail = []
    for (r1, r2), table in tables.items():
        shared = int(table.sum())
        if shared < COHEN_MIN_SHARED_ITEMS:
            continue
        detail.append(
            {
                "reviewer_1": names.get(r1, str(r1)),
                "reviewer_2": names.get(r2, str(r2)),
                "items": shared,
                "kappa": stats.cohen_kappa_from_table(table),
            }
        )
    detail.sort(key=lambda d: (d["reviewer_1"], d["reviewer_2"]))
    defined = [d["kappa"] for d in detail if d["kappa"] is not None]
    return {
        "cohen_kappa_mean": float(np.mean(defined)) if defined else None,
        "cohen_pairs": len(detail),
        "cohen_pairs_detail": detail,
    }


def _strict_plurality(counts: tuple[int, int, int]) -> int | None:
    top = max(counts)
    if top == 0 or list(counts).count(top) > 1:
        return None
    return counts.index(top)


def _reviewer_figures(rows, left_out: set[int], seconds: dict[int, float]) -> dict[int, dict]:
    """Per reviewer: judgments, left share, majority agreement, from the R rows
    (reviewer, choice code 1 A / 2 B / 3 tie, side 1 / 0 / -1, counted A / B / tie on the
    item, items)."""
    acc: dict[int, dict] = defaultdict(
        lambda: {"n": 0, "left": 0, "decided": 0, "majority_items": 0, "majority_agree": 0}
    )
    for reviewer_id, code, side, na, nb, nt, count in rows:
        figures = acc[reviewer_id]
        figures["n"] += count
        own = code - 1  # 0 A, 1 B, 2 tie
        if own != 2 and side != -1:
            figures["decided"] += count
            if (own == 0) == (side == 1):
                figures["left"] += count
        others = [int(na or 0), int(nb or 0), int(nt or 0)]
        if reviewer_id not in left_out:
            others[own] -= 1  # the reviewer's own judgment is in the item counts
        if sum(others) >= 2:
            majority = _strict_plurality(tuple(others))
            if majority is not None:
                figures["majority_items"] += count
                figures["majority_agree"] += count if majority == own else 0
    result = {}
    for reviewer_id, f in acc.items():
        result[reviewer_id] = {
            "n": f["n"],
            "decided": f["decided"],
            "left_share": f["left"] / f["decided"] if f["decided"] else None,
            "median_seconds": seconds.get(reviewer_id),
            "majority_items": f["majority_items"],
            "majority_agreed": f["majority_agree"],
            "majority_agreement": (
                f["majority_agree"] / f["majority_items"] if f["majority_items"] else None
            ),
        }
    return result


def _experiment_combos(experiment: Experiment) -> list[tuple[str, str, bool]]:
    """(model A, model B, A is model Y) for every combination among the pairs (1 query)."""
    found = (
        Pair.objects.filter(experiment=experiment)
        .values_list("model_a", "model_b")
        .distinct()
        .order_by()
    )
    baseline = experiment.baseline_model
    return sorted((a, b, orient(a, b, baseline)[0] != a) for a, b in found)


def _pair_counts(rows, combos: list[tuple[str, str, bool]]):
    """From the P rows: per dimension index, the counts per model pair (oriented X vs Y),
    the item patterns (X won, Y won, tie) with how many items have each, and the wins of
    the left and of the right output."""
    pair_counts: dict[int, dict[tuple[str, str], PairCounts]] = defaultdict(dict)
    patterns: dict[int, dict[tuple[int, int, int], int]] = defaultdict(lambda: defaultdict(int))
    left_right: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for kind, d, _, _, na, nb, nt, items, left_won, right_won, k, _ in rows:
        if kind != "P":
            continue
        model_a, model_b, flip = combos[int(k)]
        na, nb, nt, items = int(na), int(nb), int(nt), int(items)
        x, y = (model_b, model_a) if flip else (model_a, model_b)
        nx, ny = (nb, na) if flip else (na, nb)
        counts = pair_counts[d].setdefault((x, y), PairCounts(x, y))
        counts.x_wins += nx * items
        counts.y_wins += ny * items
        counts.ties += nt * items
        patterns[d][(nx, ny, nt)] += items
        left_right[d][0] += int(left_won or 0)
        left_right[d][1] += int(right_won or 0)
    return pair_counts, patterns, left_right


# --------------------------------------------------------------------------- automatic reviewers

# Items where fewer counted humans judged have no human majority to compare with (the same
# rule as a reviewer's majority_agreement).
HUMAN_MAJORITY_MIN = 2


def _automatic_aggregate(
    experiment: Experiment, dimension_ids: list[int], judge_ids: list[int], not_human_ids
) -> list[tuple]:
    """Per dimension, automatic reviewer, own choice (1 A, 2 B, 3 tie), screen side (1 A on
    the left, 0 B on the left, -1 unknown) and model pair, with the counted humans' A / B /
    tie on the same item (null when none): how many items. One statement; gold pairs left
    out, as everywhere in the statistics."""
    j, a, p = _table(Judgment), _table(Assignment), _table(Pair)
    not_human = sorted(not_human_ids)
    skip = f"AND a.reviewer_id NOT IN ({', '.join(['%s'] * len(not_human))})" if not_human else ""
    counts = ", ".join(
        f"{_SUM_IF.format(f'j.choice = {choice!r}')} AS h{choice.lower()}"
        for choice in ("A", "B", "tie")
    )
    judges = ", ".join(["%s"] * len(judge_ids))
    dims = ", ".join(["%s"] * len(dimension_ids))
    sql = f"""
        WITH human AS (
            SELECT a.pair_id AS pair_id, j.dimension_id AS dimension_id, {counts}
            FROM {j} j JOIN {a} a ON a.id = j.assignment_id
            WHERE a.experiment_id = %s AND a.status = 'submitted' {skip}
            GROUP BY a.pair_id, j.dimension_id
        )
        SELECT j.dimension_id, a.reviewer_id,
               CASE j.choice WHEN 'A' THEN 1 WHEN 'B' THEN 2 ELSE 3 END,
               CASE WHEN a.left_is_a IS NULL THEN -1 WHEN a.left_is_a THEN 1 ELSE 0 END,
               p.model_a, p.model_b, h.ha, h.hb, h.htie, COUNT(*)
        FROM {j} j
            JOIN {a} a ON a.id = j.assignment_id
            JOIN {p} p ON p.id = a.pair_id
            LEFT JOIN human h ON h.pair_id = a.pair_id AND h.dimension_id = j.dimension_id
        WHERE a.experiment_id = %s AND a.status = 'submitted' AND NOT p.is_gold
            AND a.reviewer_id IN ({judges}) AND j.dimension_id IN ({dims})
        GROUP BY j.dimension_id, a.reviewer_id, j.choice, a.left_is_a, p.model_a, p.model_b,
                 h.ha, h.hb, h.htie
    """
    params = [experiment.pk, *not_human, experiment.pk, *judge_ids, *dimension_ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _automatic_figures(rows, dimension_ids: list[int], baseline: str) -> dict[int, dict]:
    """Per dimension position: {reviewer id: figures} for the automatic reviewers, compared
    with the human majority of each item (oriented X vs Y like every agreement figure)."""
    position = {pk: i for i, pk in enumerate(dimension_ids)}
    acc: dict[int, dict] = defaultdict(dict)
    for dimension_id, reviewer_id, code, side, model_a, model_b, ha, hb, ht, count in rows:
        f = acc[position[dimension_id]].setdefault(
            reviewer_id, {"n": 0, "left": 0, "decided": 0, "table": np.zeros((3, 3))}
        )
        count = int(count)
        own = int(code) - 1  # 0 A, 1 B, 2 tie
        f["n"] += count
        if own != 2 and side != -1:
            f["decided"] += count
            f["left"] += count if (own == 0) == (side == 1) else 0
        humans = (int(ha or 0), int(hb or 0), int(ht or 0))
        majority = _strict_plurality(humans) if sum(humans) >= HUMAN_MAJORITY_MIN else None
        if majority is not None:
            flip = int(orient(model_a, model_b, baseline)[0] != model_a)
            f["table"][_xy(own, flip), _xy(majority, flip)] += count
    result: dict[int, dict] = {}
    for dimension, reviewers in acc.items():
        result[dimension] = {}
        for reviewer_id, f in reviewers.items():
            table = f["table"]
            items = int(table.sum())
            bias = stats.position_bias(f["left"], f["decided"], CONFIDENCE)
            result[dimension][reviewer_id] = {
                "n": f["n"],
                "majority_items": items,
                "agreement_with_human_majority": (
                    float(np.trace(table)) / items if items else None
                ),
                "cohen_kappa_vs_human_majority": (
                    stats.cohen_kappa_from_table(table) if items >= COHEN_MIN_SHARED_ITEMS else None
                ),
                "position_bias": {
                    "n": f["decided"],
                    "left_wins": f["left"],
                    "left_share": bias.share,
                    "left_share_ci": [bias.ci_low, bias.ci_high],
                    "p_value": bias.p_value,
                },
            }
    return result


def _xy(choice: int, flip: int) -> int:
    """A content choice (0 A, 1 B, 2 tie) as a category (0 X won, 1 Y won, 2 tie)."""
    return 2 if choice == 2 else choice ^ flip


# --------------------------------------------------------------------------- main entry


def compute_results(
    experiment: Experiment, *, n_resamples: int = 1000, include_automatic: bool = False
) -> dict:
    """All figures of an experiment as a plain, JSON-ready dict (None, never NaN).

    Six queries whatever the size, seven on PostgreSQL (a test caps them). `n_resamples=0`
    skips the bootstrap (ratings without intervals). Agreement categories: X won, Y won, tie.
    """
    dimensions = list(Dimension.objects.filter(experiment=experiment).order_by("position"))
    left_out, memberships = _statistics_reviewers(experiment, include_automatic)
    baseline = experiment.baseline_model
    combos = _experiment_combos(experiment)
    rows = (
        _aggregate(experiment, [d.pk for d in dimensions], left_out, combos) if dimensions else []
    )
    pair_counts, patterns, left_right = _pair_counts(rows, combos)
    cohen_tables: dict[int, dict[tuple[int, int], np.ndarray]] = defaultdict(dict)
    reviewer_rows, seconds = [], {}
    for kind, d, _, _, n1, n2, n3, n4, n5, n6, n7, f in rows:
        if kind == "C":
            # Choice codes 1 (A), 2 (B), 3 (tie) -> categories 0 (X won), 1 (Y won), 2 (tie).
            flip = int(n5)
            c1, c2 = (2 if c == 3 else (c - 1) ^ flip for c in (int(n3), int(n4)))
            table = cohen_tables[d].setdefault((int(n1), int(n2)), np.zeros((3, 3)))
            table[c1, c2] += int(n6)
        elif kind == "R":
            reviewer_rows.append((int(n1), int(n2), int(n3), n4, n5, n6, int(n7)))
        elif kind == "S":
            seconds[int(n1)] = float(f)
    first = dimensions[0] if dimensions else None
    judge_ids = sorted(
        u for u, (kind, _) in memberships.items() if kind == Membership.Kind.AUTOMATIC
    )
    automatic = {}
    if judge_ids and dimensions:
        # Compared with the humans whatever the statistics include: never with judges, never
        # with excluded reviewers.
        not_human = [
            u
            for u, (kind, excluded) in memberships.items()
            if excluded or kind != Membership.Kind.HUMAN
        ]
        dimension_ids = [d.pk for d in dimensions]
        automatic = _automatic_figures(
            _automatic_aggregate(experiment, dimension_ids, judge_ids, not_human),
            dimension_ids,
            baseline,
        )
    reviewer_ids = {row[0] for row in reviewer_rows} | set(seconds)
    reviewer_ids.update(r for by_reviewer in automatic.values() for r in by_reviewer)
    for pair in cohen_tables.values():
        for r1, r2 in pair:
            reviewer_ids.update((r1, r2))
    names = dict(
        get_user_model()
        .objects.filter(pk__in=reviewer_ids)
        .values_list("pk", get_user_model().USERNAME_FIELD)
    )

    result_dimensions = {}
    for position, dimension in enumerate(dimensions):
        pairs = sorted(pair_counts.get(position, {}).values(), key=lambda c: (c.model_x, c.model_y))
        # Sorted, so float sums do not depend on the order the database returned rows in.
        dim_patterns = sorted(patterns.get(position, {}).items())
        pattern_array = np.array([k for k, _ in dim_patterns], dtype=float).reshape(-1, 3)
        multiplicity = np.array([n for _, n in dim_patterns], dtype=np.int64)
        agreement = _agreement(pattern_array, multiplicity, experiment.reviews_per_pair)
        agreement.update(_cohen(cohen_tables.get(position, {}), names))
        left_won, right_won = left_right.get(position, [0, 0])
        bias = stats.position_bias(left_won, left_won + right_won, CONFIDENCE)
        result_dimensions[dimension.name] = {
            "n_judgments": sum(c.n for c in pairs),
            "pairs": [_pair_figures(c) for c in pairs],
            "models": _model_figures(pairs, [experiment.seed, position], n_resamples),
            "agreement": agreement,
            "position_bias": {
                "n": left_won + right_won,
                "left_wins": left_won,
                "left_share": bias.share,
                "left_share_ci": [bias.ci_low, bias.ci_high],
                "p_value": bias.p_value,
            },
            "automatic_reviewers": [
                {
                    "reviewer": names.get(reviewer_id, str(reviewer_id)),
                    "excluded": memberships[reviewer_id][1],
                    **figures_,
                }
                for reviewer_id, figures_ in sorted(
                    automatic.get(position, {}).items(), key=lambda item: names.get(item[0], "")
                )
            ],
        }

    figures = _reviewer_figures(reviewer_rows, set(left_out), seconds)
    pooled = [
        (figures[r]["majority_agreed"], figures[r]["majority_items"])
        for r in figures
        if r not in left_out
    ]
    pooled_items = sum(items for _, items in pooled)
    pooled_rate = sum(agreed for agreed, _ in pooled) / pooled_items if pooled_items else None
    gold = quality.gold_scores(experiment)
    reviewer_ids |= set(gold)
    reviewers = []
    for reviewer_id in sorted(reviewer_ids, key=lambda r: names.get(r, "")):
        kind, excluded = memberships.get(reviewer_id, (Membership.Kind.HUMAN, False))
        # A reviewer with no judgment on the first dimension still gets a row.
        f = figures.get(reviewer_id) or {
            "n": 0, "decided": 0, "left_share": None, "majority_items": 0, "majority_agreed": 0,
            "majority_agreement": None,
        }  # fmt: skip
        reviewers.append(
            {
                "reviewer": names.get(reviewer_id, str(reviewer_id)),
                "kind": kind,
                "excluded": excluded,
                "counted": reviewer_id not in left_out,
                "n": f["n"],
                "decided": f["decided"],
                "left_share": f["left_share"],
                "median_seconds": _none_if_nan(seconds.get(reviewer_id)),
                "majority_items": f["majority_items"],
                "majority_agreement": f["majority_agreement"],
                "gold_pairs": gold[reviewer_id].pairs if reviewer_id in gold else 0,
                "gold_accuracy": gold[reviewer_id].accuracy if reviewer_id in gold else None,
                "flags": quality.reviewer_flags(
                    decided=f["decided"],
                    left_share=f["left_share"],
                    median_seconds=_none_if_nan(seconds.get(reviewer_id)),
                    too_fast_seconds=experiment.too_fast_seconds,
                    gold=gold.get(reviewer_id),
                    majority_items=f["majority_items"],
                    majority_agreed=f["majority_agreed"],
                    pooled_majority_agreement=pooled_rate,
                ),
            }
        )
    results = {
        "experiment": experiment.slug,
        "baseline_model": baseline or None,
        "reviews_per_pair": experiment.reviews_per_pair,
        "include_automatic": include_automatic,
        "n_resamples": n_resamples,
        "confidence": CONFIDENCE,
        "first_dimension": first.name if first else None,
        "excluded_reviewers": sorted(
            names.get(r, str(r)) for r, (_, excluded) in memberships.items() if excluded
        ),
        "dimensions": result_dimensions,
        "reviewers": reviewers,
        "reviewers_pooled_majority_agreement": pooled_rate,
        "too_fast_seconds": experiment.too_fast_seconds,
    }
    results["verdict"] = verdict(results)
    return results


# --------------------------------------------------------------------------- verdict


def strength_word(value: float | None) -> str | None:
    """Landis & Koch (1977) words for a kappa/alpha: slight (<= .20), fair (<= .40),
    moderate (<= .60), substantial (<= .80), almost perfect (above); below 0: poor."""
    if value is None:
        return None
    if value < 0:
        return "poor"
    limits = ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"))
    for limit, word in limits:
        if value <= limit:
            return word
    return "almost perfect"


_AGREE_ADVERB = {
    "poor": "less than chance would predict",
    "slight": "slightly",
    "fair": "fairly",
    "moderate": "moderately",
    "substantial": "substantially",
    "almost perfect": "almost perfectly",
}


def format_p(p: float | None) -> str:
    if p is None:
        return "p undefined"
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def _percent(value: float) -> str:
    return f"{100 * value:.0f}"


def headline_pair(dimension: dict, baseline: str | None) -> dict | None:
    """The pair the verdict speaks about: among the pairs with the baseline (or all pairs),
    the one with the most decided judgments, first in order on a tie."""
    pairs = dimension["pairs"]
    with_baseline = [p for p in pairs if baseline and p["model_y"] == baseline]
    candidates = with_baseline or pairs
    if not candidates:
        return None
    return max(candidates, key=lambda p: p["decided"])  # max keeps the first of equals


def verdict(results: dict) -> str:
    """One sentence on the first dimension with judgments (see the README, "Results")."""
    dimension_name = next(
        (name for name, d in results["dimensions"].items() if d["n_judgments"]), None
    )
    if dimension_name is None:
        return "No judgments yet."
    dimension = results["dimensions"][dimension_name]
    pair = headline_pair(dimension, results["baseline_model"])
    x, y = pair["model_x"], pair["model_y"]
    alpha = dimension["agreement"]["krippendorff_alpha"]
    if alpha is None:
        agreement = "reviewer agreement cannot be measured yet (needs pairs with 2+ judgments)"
    else:
        agreement = f"reviewers agree {_AGREE_ADVERB[strength_word(alpha)]}, alpha = {alpha:.2f}"
    if not pair["decided"]:
        return (
            f"No clear winner between {x} and {y} on {dimension_name} yet: all "
            f"{pair['n']} judgments were ties; {agreement}."
        )
    rate = pair["x_win_rate"]
    lo, hi = pair["x_win_rate_ci"]
    p_text = format_p(pair["p_value"])
    decided = f"{pair['decided']} decided judgment{'s' if pair['decided'] != 1 else ''}"
    if lo > 0.5 or hi < 0.5:
        if lo > 0.5:
            winner, loser, share, ci = x, y, rate, (lo, hi)
        else:
            winner, loser, share, ci = y, x, 1 - rate, (1 - hi, 1 - lo)
        return (
            f"{winner} beats {loser} on {dimension_name}: {_percent(share)} % of {decided}, "
            f"95 % CI {_percent(ci[0])}–{_percent(ci[1])} %, {p_text}; {agreement}."
        )
    return (
        f"No clear winner between {x} and {y} on {dimension_name} yet: {x} wins "
        f"{_percent(rate)} % of {decided}, 95 % CI {_percent(lo)}–{_percent(hi)} %, "
        f"{p_text}; {agreement}."
    )


# --------------------------------------------------------------------------- simple counts


def outcome_counts(experiment: Experiment) -> dict[str, list[PairCounts]]:
    """Per dimension (in rubric order), win/tie/loss per model pair of the counted reviewers."""
    dimensions = list(Dimension.objects.filter(experiment=experiment).order_by("position"))
    left_out, _ = _statistics_reviewers(experiment, include_automatic=False)
    if not dimensions:
        return {}
    combos = _experiment_combos(experiment)
    rows = _aggregate(experiment, [d.pk for d in dimensions], left_out, combos, parts=("P",))
    pair_counts, _, _ = _pair_counts(rows, combos)
    return {
        d.name: sorted(pair_counts.get(i, {}).values(), key=lambda c: (c.model_x, c.model_y))
        for i, d in enumerate(dimensions)
    }


# --------------------------------------------------------------------------- tables (CSV)

PAIR_COLUMNS = [
    "dimension", "model_x", "model_y", "n", "x_wins", "y_wins", "ties", "decided",
    "x_win_rate", "x_win_rate_ci_low", "x_win_rate_ci_high", "x_win_rate_ties_half",
    "p_value", "ci_excludes_half", "more_decided_needed", "min_detectable_win_rate",
]  # fmt: skip
MODEL_COLUMNS = [
    "dimension", "model", "wins", "losses", "ties", "n", "rating", "rating_ci_low",
    "rating_ci_high", "rank",
]  # fmt: skip
AGREEMENT_COLUMNS = [
    "dimension", "n_judgments", "items", "percent_agreement", "fleiss_kappa", "fleiss_items",
    "krippendorff_alpha", "cohen_kappa_mean", "cohen_pairs", "position_bias_n",
    "left_share", "left_share_p_value",
]  # fmt: skip
REVIEWER_COLUMNS = [
    "reviewer", "kind", "excluded", "n", "decided", "left_share", "median_seconds",
    "majority_items", "majority_agreement", "gold_accuracy", "flags",
]  # fmt: skip
RESULT_TABLES = ("pairs", "models", "agreement", "reviewers")


def result_table(results: dict, table: str = "pairs") -> tuple[list[str], list[list]]:
    """One of the results' tables as (header, rows), for CSV: one row per dimension x
    model pair (`pairs`), dimension x model (`models`), dimension (`agreement`) or
    reviewer (`reviewers`). Undefined figures are None (an empty cell)."""
    dims = results["dimensions"]
    if table == "pairs":
        rows = [
            [name, p["model_x"], p["model_y"], p["n"], p["x_wins"], p["y_wins"], p["ties"],
             p["decided"], p["x_win_rate"], *p["x_win_rate_ci"], p["x_win_rate_ties_half"],
             p["p_value"], p["ci_excludes_half"], p["more_decided_needed"],
             p["min_detectable_win_rate"]]
            for name, d in dims.items() for p in d["pairs"]
        ]  # fmt: skip
        return PAIR_COLUMNS, rows
    if table == "models":
        rows = [
            [name, m["model"], m["wins"], m["losses"], m["ties"], m["n"], m["rating"],
             *m["rating_ci"], m["rank"]]
            for name, d in dims.items() for m in d["models"]
        ]  # fmt: skip
        return MODEL_COLUMNS, rows
    if table == "agreement":
        rows = []
        for name, d in dims.items():
            a, b = d["agreement"], d["position_bias"]
            rows.append(
                [name, d["n_judgments"], a["items"], a["percent_agreement"], a["fleiss_kappa"],
                 a["fleiss_items"], a["krippendorff_alpha"], a["cohen_kappa_mean"],
                 a["cohen_pairs"], b["n"], b["left_share"], b["p_value"]]
            )  # fmt: skip
        return AGREEMENT_COLUMNS, rows
    if table == "reviewers":
        rows = [
            [r["reviewer"], r["kind"], r["excluded"], r["n"], r["decided"], r["left_share"],
             r["median_seconds"], r["majority_items"], r["majority_agreement"],
             r["gold_accuracy"], " ".join(r["flags"])]
            for r in results["reviewers"]
        ]  # fmt: skip
        return REVIEWER_COLUMNS, rows
    raise ValueError(f"table must be one of {RESULT_TABLES}")
