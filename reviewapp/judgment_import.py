"""Judgments collected elsewhere -> assignments and judgments, in the export's CSV format.

Another tool, a spreadsheet or an automatic judge may have judged the experiment's pairs;
their file has exactly the columns of the judgments export (`exports.JUDGMENT_COLUMNS`,
the appended columns `excluded`, `repeat`, `a_acceptable` and `b_acceptable` optional), so
exporting an experiment and importing the file into a fresh experiment with the same pairs
gives the same results.

Two steps, as for pair uploads, and with their reader (upload_files: gzip, size limits,
strict UTF-8 and CSV), error collector and batching: `parse_judgments` turns the file into
rows or row errors without touching the database; `import_judgments` checks the rows
against the experiment (pairs, models, dimensions, earlier judgments) and writes everything
in one transaction, in batches, or nothing at all when any row is wrong.

Screen side: `left_model` (and a `choice` of left/right) may be empty when the other tool
did not record which output was shown on the left; the assignment then stores
`left_is_a = NULL`, and such judgments count everywhere except in position bias.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .exports import FORMULA_PREFIXES, JUDGMENT_COLUMNS
from .judgment_formats import is_minimal_header, minimal_records, missing_columns_message
from .models import Assignment, Experiment, Judgment, Membership, Pair
from .upload_files import Source, open_records
from .upload_parser import RowError, RowErrors, UploadError
from .uploads import BATCH_SIZE, batches

OPTIONAL_COLUMNS = ("excluded", "repeat", "a_acceptable", "b_acceptable")
REQUIRED_COLUMNS = tuple(c for c in JUDGMENT_COLUMNS if c not in OPTIONAL_COLUMNS)
SCREEN_CHOICES = ("", "left", "right", "tie")
STRENGTHS = ("", "slight", "clear")
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no", ""}
ACCEPTABLE_WORDS = {"yes": True, "no": False, "": None}
MAX_USERNAME_CHARS = get_user_model()._meta.get_field("username").max_length


class JudgmentImportError(UploadError):
    """The file was refused: `errors` holds the first problems, `total_errors` counts all."""

    refusal = "No judgment was imported"


@dataclass(slots=True)
class JudgmentRow:
    """One judgment as read from the file, before it touches the database."""

    line: int
    pair_id: str
    reviewer: str
    dimension: str
    model_a: str
    model_b: str
    left_model: str  # "" when the screen side is unknown
    winner: str  # model_a, model_b or "tie"
    submitted_at: datetime | None
    seconds: float
    rationale: str
    strength: str
    excluded: bool | None  # None: the file does not say
    # The reviewer's second answer to the pair (a swapped repeat); only with the column.
    repeat: bool = False
    # Was output A / B acceptable (content terms, as exported); None: not asked.
    a_acceptable: bool | None = None
    b_acceptable: bool | None = None


@dataclass
class ImportResult:
    rows: int = 0
    judgments_created: int = 0
    assignments_created: int = 0
    reviewers_created: list[str] = field(default_factory=list)
    memberships_created: int = 0
    reviewers: Counter = field(default_factory=Counter)  # reviewer -> judgments imported
    unknown_side: int = 0  # judgments whose screen side is unknown
    committed: bool = True  # False: a preview, counting what importing would do

    def summary(self) -> str:
        verb = "Imported" if self.committed else "Would import"
        text = (
            f"{verb} {self.judgments_created:,} judgments ({self.assignments_created:,} "
            f"pair reviews) by {len(self.reviewers):,} reviewer(s)"
        )
        if self.reviewers_created:
            text += f", {len(self.reviewers_created):,} of them new users"
        text += "."
        if self.unknown_side:
            text += (
                f" {self.unknown_side:,} judgments have no screen side (left_model empty): "
                "they count everywhere except position bias."
            )
        return text


# --------------------------------------------------------------------------- parsing


def _restore_cell(value: str) -> str:
    """Undo the export's spreadsheet-formula neutralising (an apostrophe before = + - @)."""
    if len(value) >= 2 and value[0] == "'" and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def _parse_time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.strip())
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _records(header: tuple[int, list[str]] | None, records, errors: RowErrors):
    """(line where the record starts, {column: value}) for every data row, read with the
    pair uploads' reader (upload_files: size and gzip guards, strict UTF-8 and CSV)."""
    if header is None:
        errors.fail(None, "", "the file is empty")
    line, columns = header
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        errors.fail(line, "", missing_columns_message(columns, missing))
    wanted = [c for c in JUDGMENT_COLUMNS if c in columns]
    for line, cells in records:
        if any(cell.strip() for cell in cells.values()):  # a row of empty cells is blank
            yield line, {c: _restore_cell(cells[c]) for c in wanted}


def _parse_row(line: int, cells: dict[str, str], errors: RowErrors) -> JudgmentRow | None:
    before = errors.total
    values = {c: cells.get(c, "").strip() for c in JUDGMENT_COLUMNS if c != "rationale"}
    for column in ("pair_id", "reviewer", "dimension", "model_a", "model_b", "winner"):
        if not values[column]:
            errors.add(line, column, "must not be empty")
    if len(values["reviewer"]) > MAX_USERNAME_CHARS:
        errors.add(line, "reviewer", f"longer than {MAX_USERNAME_CHARS} characters")
    model_a, model_b = values["model_a"], values["model_b"]
    winner, left_model, choice = values["winner"], values["left_model"], values["choice"]
    if winner and winner not in (model_a, model_b, "tie"):
        errors.add(
            line, "winner", f"expected the model_a name ({model_a!r}), the model_b name "
            f"({model_b!r}) or 'tie', got {winner!r}",
        )  # fmt: skip
    if left_model and left_model not in (model_a, model_b):
        errors.add(
            line, "left_model", f"expected empty (side unknown), {model_a!r} or {model_b!r}, "
            f"got {left_model!r}",
        )  # fmt: skip
    if choice not in SCREEN_CHOICES:
        errors.add(line, "choice", f"expected left, right, tie or empty, got {choice!r}")
    elif choice in ("left", "right") and not left_model:
        errors.add(
            line, "choice", f"{choice!r} needs left_model (the model shown on the left); "
            "leave both empty when the side is unknown",
        )  # fmt: skip
    elif errors.total == before and choice:
        if choice == "tie":
            expected = "tie"
        else:
            right_model = model_b if left_model == model_a else model_a
            expected = left_model if choice == "left" else right_model
        if expected != winner:
            errors.add(
                line, "choice", f"{choice!r} contradicts the winner {winner!r} "
                f"(left_model is {left_model!r})",
            )  # fmt: skip
    strength = values["strength"]
    if strength not in STRENGTHS:
        errors.add(line, "strength", f"expected slight, clear or empty, got {strength!r}")
    elif strength and winner == "tie":
        errors.add(line, "strength", "a tie has no strength; leave it empty")
    submitted_at = None
    if values["submitted_at"]:
        try:
            submitted_at = _parse_time(values["submitted_at"])
        except ValueError:
            errors.add(
                line, "submitted_at", "expected an ISO 8601 date and time such as "
                f"2024-05-01T12:00:00+00:00, got {values['submitted_at']!r}",
            )  # fmt: skip
    seconds = 0.0
    if values["seconds_on_pair"]:
        try:
            seconds = float(values["seconds_on_pair"])
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds >= 0):
            errors.add(
                line, "seconds_on_pair", "expected a number of seconds >= 0 or empty, "
                f"got {values['seconds_on_pair']!r}",
            )  # fmt: skip
    excluded = None
    raw_excluded = values.get("excluded", "").lower()
    if raw_excluded in TRUE_WORDS:
        excluded = True
    elif raw_excluded and raw_excluded in FALSE_WORDS:
        excluded = False
    elif raw_excluded:
        errors.add(line, "excluded", f"expected true, false or empty, got {raw_excluded!r}")
    repeat = False
    raw_repeat = values.get("repeat", "").lower()
    if raw_repeat in TRUE_WORDS:
        repeat = True
    elif raw_repeat not in FALSE_WORDS:
        errors.add(line, "repeat", f"expected true, false or empty, got {raw_repeat!r}")
    acceptable = {}
    for column in ("a_acceptable", "b_acceptable"):
        raw = values.get(column, "")
        if raw.lower() not in ACCEPTABLE_WORDS:
            errors.add(line, column, f"expected yes, no or empty (not asked), got {raw!r}")
        acceptable[column] = ACCEPTABLE_WORDS.get(raw.lower())
    if errors.total != before:
        return None
    return JudgmentRow(
        line=line, pair_id=values["pair_id"], reviewer=values["reviewer"],
        dimension=values["dimension"], model_a=model_a, model_b=model_b,
        left_model=left_model, winner=winner, submitted_at=submitted_at, seconds=seconds,
        rationale=cells.get("rationale", "").strip(), strength=strength, excluded=excluded,
        repeat=repeat,
        **acceptable,
    )  # fmt: skip


def parse_judgments(source: Source, experiment: Experiment | None = None) -> list[JudgmentRow]:
    """Every row of a CSV file (a path or a binary file, optionally gzip), or
    JudgmentImportError listing the problems. With the `experiment`, a file in the minimal
    format (judgment_formats) is read too, its model columns filled from the pairs; without
    it, nothing touches the database."""
    errors = RowErrors(JudgmentImportError)
    rows = []
    try:
        with open_records(source, errors, file_format="csv") as upload:
            cells_by_line = _records
            if experiment is not None and upload.header and is_minimal_header(upload.header[1]):
                cells_by_line = partial(minimal_records, experiment)
            for line, cells in cells_by_line(upload.header, upload.rows, errors):
                row = _parse_row(line, cells, errors)
                if row is not None:
                    rows.append(row)
    except JudgmentImportError:
        raise
    except UploadError as error:  # the file guards (size, line length) word it for pairs
        raise JudgmentImportError(error.errors, error.total_errors) from None
    errors.fail_if_any()
    if not rows:
        raise JudgmentImportError([RowError(None, "", "the file has no judgment rows")])
    return rows


# --------------------------------------------------------------------------- checking


@dataclass
class _Review:
    """The rows of one (pair, reviewer, repeat): they become one assignment."""

    first: JudgmentRow
    rows: list[JudgmentRow] = field(default_factory=list)
    rationale: str = ""


_SHARED_FIELDS = (
    ("left_model", "left_model"),
    ("submitted_at", "submitted_at"),
    ("seconds", "seconds_on_pair"),
    ("a_acceptable", "a_acceptable"),
    ("b_acceptable", "b_acceptable"),
)


def _check_against_experiment(experiment: Experiment, rows: list[JudgmentRow]):
    """Group rows into reviews and check them against the experiment (reads only)."""
    errors = RowErrors(JudgmentImportError)
    pairs = {
        external_id: (pk, model_a, model_b)
        for pk, external_id, model_a, model_b in Pair.objects.filter(
            experiment=experiment
        ).values_list("pk", "external_id", "model_a", "model_b")
    }
    dimensions = dict(experiment.dimensions.values_list("name", "pk"))
    reviews: dict[tuple[str, str, bool], _Review] = {}
    seen: dict[tuple[str, str, bool, str], int] = {}
    excluded_by_reviewer: dict[str, tuple[bool, int]] = {}
    for row in rows:
        pair = pairs.get(row.pair_id)
        if pair is None:
            errors.add(row.line, "pair_id", f"no pair {row.pair_id!r} in this experiment")
        elif (row.model_a, row.model_b) != pair[1:]:
            errors.add(
                row.line, "model_a", f"pair {row.pair_id!r} is {pair[1]!r} (A) vs "
                f"{pair[2]!r} (B); the row says {row.model_a!r} vs {row.model_b!r}",
            )  # fmt: skip
        if row.dimension not in dimensions:
            errors.add(
                row.line, "dimension", f"unknown dimension {row.dimension!r}; the experiment "
                f"has {', '.join(dimensions)}",
            )  # fmt: skip
        key = (row.pair_id, row.reviewer, row.repeat, row.dimension)
        if key in seen:
            again = " (a second answer is a repeat: say so in a `repeat` column)"
            errors.add(
                row.line, "dimension", f"pair {row.pair_id!r}, reviewer {row.reviewer!r} and "
                f"dimension {row.dimension!r} already appear on line {seen[key]}"
                + ("" if row.repeat else again),
            )  # fmt: skip
        seen.setdefault(key, row.line)
        if row.excluded is not None:
            earlier = excluded_by_reviewer.setdefault(row.reviewer, (row.excluded, row.line))
            if earlier[0] != row.excluded:
                errors.add(
                    row.line, "excluded", f"reviewer {row.reviewer!r} is marked "
                    f"{'excluded' if earlier[0] else 'not excluded'} on line {earlier[1]}",
                )  # fmt: skip
        review = reviews.setdefault((row.pair_id, row.reviewer, row.repeat), _Review(first=row))
        review.rows.append(row)
        for attribute, column in _SHARED_FIELDS:
            mine, theirs = getattr(row, attribute), getattr(review.first, attribute)
            # A pair is shown to a reviewer once: one side, one time for all dimensions.
            if mine != theirs:
                errors.add(
                    row.line, column, f"differs from line {review.first.line} "
                    f"({theirs!r}) for the same pair and reviewer",
                )  # fmt: skip
        if row.rationale:
            if review.rationale and review.rationale != row.rationale:
                errors.add(
                    row.line, "rationale", "differs from an earlier line for the same pair "
                    "and reviewer (one rationale per pair)",
                )  # fmt: skip
            review.rationale = review.rationale or row.rationale
    existing = set(
        Assignment.objects.filter(
            experiment=experiment,
            reviewer__username__in={reviewer for _, reviewer, _ in reviews},
        ).values_list("pair__external_id", "reviewer__username", "repeat")
    )
    for key in sorted(existing & reviews.keys()):
        errors.add(
            reviews[key].first.line, "reviewer", f"{key[1]!r} has already reviewed pair "
            f"{key[0]!r} in this experiment" + (" (and its repeat)" if key[2] else ""),
        )  # fmt: skip
    for pair_id, reviewer, repeat in sorted(reviews):
        if repeat and (pair_id, reviewer, False) not in reviews.keys() | existing:
            errors.add(
                reviews[pair_id, reviewer, repeat].first.line, "repeat", f"a repeat of pair "
                f"{pair_id!r} by {reviewer!r} needs their first answer (a row with repeat false)",
            )  # fmt: skip
    errors.fail_if_any()
    return reviews, pairs, dimensions, excluded_by_reviewer


# --------------------------------------------------------------------------- writing


def _ensure_reviewers(
    experiment: Experiment, names: set[str], kind: str, excluded: dict, result: ImportResult
) -> dict[str, int]:
    User = get_user_model()
    users = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
    new = sorted(names - users.keys())
    if new:
        unusable = make_password(None)  # imported reviewers never log in with a password
        User.objects.bulk_create(User(username=name, password=unusable) for name in new)
        users.update(User.objects.filter(username__in=new).values_list("username", "pk"))
        result.reviewers_created = new
    members = set(
        Membership.objects.filter(experiment=experiment, user_id__in=users.values()).values_list(
            "user_id", flat=True
        )
    )
    created = [
        Membership(
            experiment=experiment,
            user_id=pk,
            kind=kind,
            excluded=excluded.get(name, (False, 0))[0],
        )
        for name, pk in users.items()
        if pk not in members
    ]
    Membership.objects.bulk_create(created)
    result.memberships_created = len(created)
    # The file's `excluded` column also applies to reviewers who were already members.
    for flag in (True, False):
        names_flagged = [n for n, (value, _) in excluded.items() if value is flag]
        Membership.objects.filter(
            experiment=experiment, user_id__in=[users[n] for n in names_flagged]
        ).exclude(excluded=flag).update(excluded=flag)
    return users


def import_judgments(
    experiment: Experiment,
    source: Source,
    *,
    kind: str = Membership.Kind.HUMAN,
    now: datetime | None = None,
) -> ImportResult:
    """Check the whole file, then write its judgments in one transaction (or nothing).

    `kind` is the Membership kind given to reviewers who are not members yet (an automatic
    judge's verdicts: "automatic"). Rows without `submitted_at` get `now`. Raises
    JudgmentImportError with row-numbered problems.
    """
    if kind not in Membership.Kind.values:
        raise ValueError(f"kind must be one of {Membership.Kind.values}")
    rows = parse_judgments(source, experiment)
    now = now or timezone.now()
    result = ImportResult(rows=len(rows))
    with transaction.atomic():
        reviews, pairs, dimensions, excluded = _check_against_experiment(experiment, rows)
        users = _ensure_reviewers(
            experiment, {reviewer for _, reviewer, _ in reviews}, kind, excluded, result
        )
        slots: Counter = Counter()
        for batch in batches(reviews.values()):
            assignments = []
            for review in batch:
                row = review.first
                pair_pk, model_a, _ = pairs[row.pair_id]
                submitted_at = row.submitted_at or now
                assignments.append(
                    Assignment(
                        experiment=experiment, pair_id=pair_pk, reviewer_id=users[row.reviewer],
                        left_is_a=(row.left_model == model_a) if row.left_model else None,
                        status=Assignment.Status.SUBMITTED,
                        shown_at=submitted_at - timedelta(seconds=row.seconds),
                        submitted_at=submitted_at, rationale=review.rationale,
                        repeat=row.repeat,
                        a_acceptable=row.a_acceptable, b_acceptable=row.b_acceptable,
                    )
                )  # fmt: skip
                slots[pair_pk] += not row.repeat  # a repeat holds no slot
            Assignment.objects.bulk_create(assignments)
            judgments = []
            for review, assignment in zip(batch, assignments, strict=True):
                for row in review.rows:
                    if row.winner == "tie":
                        choice = Judgment.Choice.TIE
                    elif row.winner == row.model_a:
                        choice = Judgment.Choice.A
                    else:
                        choice = Judgment.Choice.B
                    judgments.append(
                        Judgment(
                            assignment_id=assignment.pk,
                            dimension_id=dimensions[row.dimension],
                            choice=choice,
                            strength=row.strength if choice != Judgment.Choice.TIE else "",
                        )
                    )
                    result.reviewers[row.reviewer] += 1
                    result.unknown_side += not row.left_model
            Judgment.objects.bulk_create(judgments, batch_size=BATCH_SIZE)
            result.assignments_created += len(assignments)
            result.judgments_created += len(judgments)
        # Submitted assignments hold a slot of their pair (see assignment.py), so the review
        # queue does not hand the pair to more reviewers than the experiment asks for.
        by_increment: dict[int, list[int]] = defaultdict(list)
        for pair_pk, n in slots.items():
            by_increment[n].append(pair_pk)
        for n, pair_pks in by_increment.items():
            for chunk in batches(pair_pks):
                Pair.objects.filter(pk__in=chunk).update(slots_taken=F("slots_taken") + n)
    return result


def preview_judgments(experiment: Experiment, source: Source) -> ImportResult:
    """Check the whole file as import_judgments does and count what it would import,
    writing nothing (the web page's and the API's preview). Raises JudgmentImportError."""
    rows = parse_judgments(source, experiment)
    reviews, _, _, _ = _check_against_experiment(experiment, rows)
    names = {reviewer for _, reviewer, _ in reviews}
    known = set(
        get_user_model().objects.filter(username__in=names).values_list("username", flat=True)
    )
    result = ImportResult(rows=len(rows), committed=False)
    result.reviewers_created = sorted(names - known)
    result.assignments_created = len(reviews)
    result.judgments_created = len(rows)
    for row in rows:
        result.reviewers[row.reviewer] += 1
        result.unknown_side += not row.left_model
    return result
