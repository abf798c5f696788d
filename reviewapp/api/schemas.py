"""What the API accepts and returns. The OpenAPI schema at /api/openapi.json is built from
these, so every limit here is also a promise to clients (and to the schema fuzz test)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict

from ..models import Experiment

# Slugs as Django's SlugField accepts them (ASCII).
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
SLUG_MAX = Experiment._meta.get_field("slug").max_length
# Usernames as Django's validator accepts them, ASCII only.
NAME_PATTERN = r"^[A-Za-z0-9_.@+-]+$"
# No NUL: PostgreSQL text cannot hold it.
NO_NUL = r"^[^\x00]*$"
MAX_ID = 2**63 - 1


def _storable(value: str) -> str:
    """Text a database can store: no NUL and no lone surrogates (from JSON "\\ud800")."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def text(max_length: int, min_length: int = 0, pattern: str = NO_NUL, **kwargs):
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length, pattern=pattern, **kwargs),
        AfterValidator(_storable),
    ]


DimensionName = text(60, 1)
# pydantic writes a dict key's pattern as patternProperties, which lets a key that fails it
# through as an additional property; the schema says what the API checks instead.
DIMENSION_KEYS = {"propertyNames": {"minLength": 1, "maxLength": 60, "pattern": NO_NUL}}


def _whole(value):
    """JSON has one kind of number: 16.0 is the integer 16 (JSON Schema agrees, and so
    does the schema fuzz test). True and "16" are still refused (strict)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole)]
RenderMode = Literal["markdown", "plain"]  # Experiment.RenderMode
RENDER_MODE = (
    "How the web review page shows prompts and outputs: markdown (GitHub-style, every "
    "line break kept) or plain (as written, nothing interpreted)."
)


# -- errors -----------------------------------------------------------------------------


class RowErrorOut(Schema):
    row: int | None = Field(description="Line of the uploaded file (1 = first line), or null.")
    column: str = Field(description="Column of the file, or the request field at fault.")
    message: str


class ErrorOut(Schema):
    error: str = Field(description="Stable code, e.g. not_found, invalid_upload, closed.")
    detail: str
    rows: list[RowErrorOut]


# -- experiments ------------------------------------------------------------------------


MARGIN = (
    "Non-inferiority margin, 0 to 0.25: the results test whether X's win rate is above "
    "0.5 minus this."
)
TAG_FIELD = (
    "A pair metadata field the results are broken down by (by_tag); empty: none. Not digits only."
)
AssignmentStrategy = Literal["spread", "complete"]
ASSIGNMENT_STRATEGY = (
    "Which pairs the review queue serves first: spread (fewest reviews first) or complete "
    "(pairs already started, most reviews below reviews_per_pair first)."
)
CALIBRATION_PAIRS = (
    "The first N pairs uploaded go to every reviewer before anything else (beyond "
    "reviews_per_pair); 0: none."
)
REPEAT_RATE = (
    "Share of each reviewer's pairs shown to them again later with the sides swapped "
    "(0 to 0.5); repeats never count in the results."
)


class ExperimentIn(Schema):
    # Strict: JSON 0 is not false, "3" is not 3.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: text(200, 1)
    reviewer_title: text(200) = Field(
        "",
        description="What reviewers see as the title (never the name); empty: a neutral "
        '"Comparison <id>". Do not name the models here.',
    )
    slug: text(SLUG_MAX, 0, r"^[-a-zA-Z0-9_]*$") = Field(
        "", description="Used in URLs; empty: derived from the name."
    )
    dimensions: list[DimensionName] = Field(
        default_factory=lambda: ["overall", "accuracy", "relevance", "style", "usefulness"],
        min_length=1,
        max_length=30,
        description="Rubric dimensions, in the order reviewers see them.",
    )
    reviews_per_pair: WholeNumber = Field(3, ge=1, le=100)
    baseline_model: text(200) = ""
    allow_tie: bool = True
    instructions: text(20_000) = Field("", description="Markdown shown to reviewers.")
    require_rationale: bool = False
    ask_strength: bool = False
    ask_acceptable: bool = Field(False, description="Also ask whether each output is acceptable.")
    render_mode: RenderMode = Field(Experiment.RenderMode.MARKDOWN.value, description=RENDER_MODE)
    margin: float = Field(0.05, ge=0, le=0.25, description=MARGIN)
    tag_field: text(200) = Field("", description=TAG_FIELD)
    assignment_strategy: AssignmentStrategy = Field(
        Experiment.Strategy.SPREAD.value, description=ASSIGNMENT_STRATEGY
    )
    calibration_pairs: WholeNumber = Field(0, ge=0, le=100_000, description=CALIBRATION_PAIRS)
    repeat_rate: float = Field(0.0, ge=0, le=0.5, description=REPEAT_RATE)


class ProgressOut(Schema):
    pairs: int
    reviews_done: int = Field(description="Submitted assignments.")
    reviews_needed: int = Field(description="pairs x reviews_per_pair.")
    percent_done: int
    reviewers: int


class ExperimentOut(Schema):
    slug: str
    name: str
    reviewer_title: str = Field(description="As set by the owner; empty: the neutral default.")
    title_for_reviewers: str = Field(description="The title reviewers see.")
    status: Literal["draft", "open", "closed"]
    owner: str
    dimensions: list[str]
    reviews_per_pair: int
    baseline_model: str
    allow_tie: bool
    require_rationale: bool
    ask_strength: bool
    ask_acceptable: bool
    render_mode: RenderMode = Field(description=RENDER_MODE)
    margin: float = Field(description=MARGIN)
    tag_field: str = Field(description=TAG_FIELD)
    assignment_strategy: AssignmentStrategy = Field(description=ASSIGNMENT_STRATEGY)
    calibration_pairs: int = Field(description=CALIBRATION_PAIRS)
    repeat_rate: float = Field(description=REPEAT_RATE)
    instructions: str
    created_at: datetime
    progress: ProgressOut


# -- pairs ------------------------------------------------------------------------------


class ModelPairingOut(Schema):
    model_a: str
    model_b: str
    pairs: int


class ImportOut(Schema):
    committed: bool = Field(description="False for a dry run: nothing was written.")
    file_format: Literal["csv", "jsonl"]
    compressed: bool
    format: Literal["wide", "long"]
    pairing: Literal["all", "baseline"]
    rows_read: int
    pairs_created: int = Field(description="In a dry run: pairs that would be created.")
    pairs_unchanged: int = Field(description="Already in the experiment with the same content.")
    pairs_total: int
    empty_outputs_a: int
    empty_outputs_b: int
    prompts_without_pair: int
    values_as_text: int = Field(
        0, description="A warning: JSON numbers and booleans in text columns, read as text."
    )
    models: dict[str, int] = Field(description="Model -> pairs it appears in.")
    pairings: list[ModelPairingOut]
    pairs_flagged: int = Field(
        description="Pairs of the experiment (dry run: of the file) whose prompt or outputs "
        "may reveal a model: its name, or an output introducing itself."
    )
    summary: str


class LeakFlagOut(Schema):
    field: Literal["prompt", "output_a", "output_b"]
    match: str = Field(description="The text found.")
    context: str = Field(description="The text around it.")
    kind: Literal["model", "self-identification", "vendor"]
    model: str = Field(description="The experiment's model it names; empty for the others.")


class PairOut(Schema):
    pair_id: str
    prompt: str
    model_a: str
    output_a: str
    model_b: str
    output_b: str
    metadata: dict[str, Any]
    is_gold: bool
    reviews_done: int
    leak_flags: list[LeakFlagOut] = Field(
        description="Possible identity leaks in the prompt or outputs; empty: none found."
    )
    excluded: bool = Field(description="Taken out of review by the owner; never assigned.")
    leak_kept: bool = Field(description="Flagged, and kept in review by the owner knowingly.")


class FlaggedPairsOut(Schema):
    action: Literal["exclude", "keep"]
    pairs: int = Field(description="Flagged pairs this changed.")


class PairPageOut(Schema):
    count: int = Field(description="Pairs in the experiment.")
    offset: int
    limit: int
    items: list[PairOut]


# -- reviewers --------------------------------------------------------------------------


class ReviewerIn(Schema):
    # Strict: JSON 0 is not false, "3" is not 3.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: text(150, 1, NAME_PATTERN) = Field(
        description="automatic: the new reviewer's name; human: an existing username."
    )
    kind: Literal["automatic", "human"] = "automatic"


class ReviewerOut(Schema):
    reviewer: str
    kind: Literal["human", "automatic"]
    excluded: bool
    reviews_done: int


class NewReviewerOut(ReviewerOut):
    token: str | None = Field(
        description="automatic reviewers: the reviewer's own API token, shown only this once."
    )


# -- results ----------------------------------------------------------------------------


class ResultsOut(Schema):
    """The results JSON (README, "Results"); only the top level is spelled out here."""

    model_config = ConfigDict(extra="allow")

    experiment: str
    include_automatic: bool
    dimensions: dict[str, dict[str, Any]]
    reviewers: list[dict[str, Any]]
    verdict: str


# -- review -----------------------------------------------------------------------------


class ReviewProgressOut(Schema):
    done: int = Field(description="Pairs this reviewer has answered.")
    share: int = Field(description="This reviewer's share of the work (or quota).")


class NextPairOut(Schema):
    assignment: int
    prompt: str = Field(
        description="As uploaded (the web page shows it in the experiment's render mode)."
    )
    left: str
    right: str
    dimensions: list[str]
    choices: list[Literal["left", "right", "tie"]] = Field(description="Allowed answers.")
    ask_strength: bool = Field(description="If true, also send strength per dimension.")
    ask_acceptable: bool = Field(
        description="If true, also send `acceptable`: whether the left and the right output "
        "are each acceptable."
    )
    require_rationale: bool
    instructions: str
    progress: ReviewProgressOut


Choice = Literal["left", "right", "tie"]


class AnswerIn(Schema):
    # Strict: JSON 0 is not false, "3" is not 3.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"choices": {"overall": "left"}, "rationale": ""}]},
    )

    choices: dict[DimensionName, Choice] = Field(
        description="One answer per dimension, by dimension name.",
        max_length=30,
        json_schema_extra=DIMENSION_KEYS,
    )
    strength: dict[DimensionName, Literal["slight", "clear"]] = Field(
        default_factory=dict,
        max_length=30,
        description="Only when the experiment asks for it; not for ties.",
        json_schema_extra=DIMENSION_KEYS,
    )
    acceptable: dict[Literal["left", "right"], bool] = Field(
        default_factory=dict,
        description="Only when the experiment asks for it (ask_acceptable): both sides, "
        'e.g. {"left": true, "right": false}.',
    )
    rationale: text(10_000) = ""


class AnswerOut(Schema):
    assignment: int
    status: Literal["recorded", "already_recorded"] = Field(
        description="already_recorded: sent before; the first answer stands."
    )


class SkipOut(Schema):
    assignment: int
    status: Literal["skipped", "already_submitted"]
