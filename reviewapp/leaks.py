"""Identity leaks: text a reviewer would see that tells which model wrote an output.

Pure functions over strings; nothing here touches the database or Django. Three kinds:

- ``model``: one of the experiment's model names, in any of its obvious spellings
  ("Tulu 65B" ~ "tulu-65b" ~ "tulu65b" ~ "TULU_65B"), or its family name ("Tulu"), always
  between word boundaries, so a model called "base" does not match "database";
- ``self-identification``: an output introducing its model ("I am Claude", "As ChatGPT,",
  "an AI assistant developed by Anthropic", "I was trained by Mistral AI");
- ``vendor``: a name that only ever means a model or its maker (OpenAI, Anthropic,
  DeepMind, ChatGPT, GPT-4, the Allen Institute for AI). Makers whose names are everyday
  words or companies known for much else (Google, Meta, Microsoft, Amazon, Apple) and
  assistant names that are also ordinary words (Claude, Bard, Gemini, Falcon, Alpaca) only
  count inside a self-identification, or "TensorFlow was developed by Google" and "the
  Bard of Avon" would be flagged.

What is deliberately not flagged: "As an AI language model, ..." without a maker (every
assistant says it), and "I am writing to ..." (a capitalised name must follow "I am").
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

# Enough to show the owner what was found; a pair with more is flagged all the same.
MAX_LEAKS_PER_FIELD = 5
CONTEXT_CHARS = 40
# Shorter names ("A", "v2") would match everywhere; they are not looked for.
MIN_NAME_CHARS = 3

KIND_MODEL = "model"
KIND_SELF = "self-identification"
KIND_VENDOR = "vendor"

# Words that name a variant rather than a model: never used alone as a family name.
GENERIC_WORDS = frozenset(
    """base baseline model models tuned finetuned fine chat instruct instruction large small
    medium mini tiny test new old control candidate system sft rlhf dpo ppo the our my
    version hf gguf ckpt checkpoint run exp experiment policy reference ref default best""".split()
)

# Assistants' own names: flagged when an output introduces itself with one.
ASSISTANT_NAMES = (
    r"Chat\s?GPT|GPT[-\s]?[2-5](?:\.5)?(?:[-\s]?turbo|o)?|GPT|Claude|Bard|Gemini|Gemma|"
    r"LLaMA(?:[-\s]?[1-4])?|Llama(?:[-\s]?[1-4])?|Alpaca|Vicuna|Koala|T[uü]lu|Mistral|Mixtral|"
    r"Qwen|Falcon|PaLM|Copilot|Bing(?:\s+Chat)?|Grok|Dolly|Zephyr|OLMo|Phi(?:[-\s]?[1-4])|"
    r"ERNIE|DeepSeek|Command[-\s]?R|Orca|Guanaco|Baichuan|ChatGLM|InternLM|Yi[-\s]\d+B"
)
# Makers: flagged after "developed by" and the like.
VENDOR_NAMES = (
    r"OpenAI|Anthropic|Google(?:\s+DeepMind|\s+Brain|\s+AI|\s+Research)?|DeepMind|"
    r"Meta(?:\s+AI)?|Facebook(?:\s+AI(?:\s+Research)?)?|Mistral(?:\s+AI)?|Microsoft(?:\s+Research)?|"
    r"Amazon|Apple|Allen\s+Institute\s+for\s+(?:AI|Artificial\s+Intelligence)|AI2|Ai2|"
    r"Alibaba(?:\s+Cloud)?|Baidu|Cohere|Hugging\s?Face|Stability\s+AI|xAI|Nvidia|NVIDIA|IBM|"
    r"LMSYS|Tsinghua(?:\s+University)?|Stanford(?:\s+University)?|Berkeley|Databricks|"
    r"Technology\s+Innovation\s+Institute|TII|01\.AI|Inflection(?:\s+AI)?|Zhipu(?:\s+AI)?"
)
# Names that mean a model or its maker wherever they appear. "LLaMA" and "AI2" only with
# that exact case: "llama" is an animal.
DISTINCTIVE = (
    r"(?i:OpenAI|Anthropic|DeepMind|Chat\s?GPT|GPT[-\s]?[2-5](?:\.5)?(?:[-\s]?turbo)?|"
    r"Allen\s+Institute\s+for\s+(?:AI|Artificial\s+Intelligence))|LLaMA|AI2"
)

_I_AM = r"(?:I\s+am|I['’]m|my\s+name\s+is|call\s+me|you\s+can\s+call\s+me|I\s+go\s+by)"
_MADE = (
    r"(?:developed|created|trained|built|made|designed|programmed|fine[-\s]?tuned|"
    r"released|owned|powered|produced)"
)
_ROLE = (
    r"(?:AI|A\.I\.|artificial\s+intelligence|assistant|chatbot|chat\s?bot|bot|"
    r"(?:large\s+)?language\s+model|LLM|model)"
)
# A maker named with capitals ("developed by Large Model Systems"): case-sensitive.
_CAPITALISED = r"(?-i:[A-Z][\w&.-]*(?:\s+(?:for\s+|of\s+)?[A-Z][\w&.-]*){0,4})"

_SELF_PATTERNS = (
    # "I am ChatGPT", "I'm Claude", "my name is Bard" (the name's case as written).
    rf"\b{_I_AM}\s+(?:an?\s+|the\s+)?(?-i:{ASSISTANT_NAMES})\b",
    # "As ChatGPT, I ..." / "As a Claude model"
    rf"\bas\s+(?:an?\s+)?(?-i:{ASSISTANT_NAMES})(?:\s+{_ROLE})?\s*,",
    # "an AI assistant developed by Anthropic", "a language model trained by OpenAI"
    rf"\b(?:I\s+am|I['’]m|as|being)\s+(?:an?\s+|the\s+)?(?:[\w-]+\s+){{0,3}}?{_ROLE}\b"
    rf"[^.!?\n]{{0,60}}?\b{_MADE}\s+by\s+(?:the\s+)?(?:team\s+at\s+|"
    rf"researchers\s+at\s+|engineers\s+at\s+|folks\s+at\s+)?(?:{VENDOR_NAMES}|{_CAPITALISED})",
    # "I was trained by Google", "I have been developed by the Allen Institute for AI"
    rf"\bI\s+(?:was|am|have\s+been|were)\s+(?:originally\s+|first\s+)?"
    rf"(?:{_MADE}\s+and\s+)?{_MADE}\s+by\s+(?:the\s+)?(?:team\s+at\s+|researchers\s+at\s+)?(?:{VENDOR_NAMES})\b",
    # "I am a Google AI", "I'm an OpenAI model"
    rf"\b{_I_AM}\s+(?:an?\s+)?(?-i:{VENDOR_NAMES})\s+(?:[\w-]+\s+)?{_ROLE}\b",
)

# Python's regex engine tries these patterns at every position of a text (a few MB/s),
# while `in` runs at memory speed. So each pattern has a gate: groups of words, each group
# needing one of its words in the text (lower-cased, whitespace runs as one space), that
# every match of the pattern contains. Most texts pass few gates and cost a few `in`s.
_ASSISTANT_HINTS = (
    "gpt", "claude", "bard", "gemini", "gemma", "llama", "alpaca", "vicuna", "koala", "tulu",
    "tülu", "mistral", "mixtral", "qwen", "falcon", "palm", "copilot", "bing", "grok", "dolly",
    "zephyr", "olmo", "phi", "ernie", "deepseek", "command", "orca", "guanaco", "baichuan",
    "chatglm", "internlm", "yi ", "yi-",
)  # fmt: skip
_VENDOR_HINTS = (
    "openai", "anthropic", "google", "deepmind", "meta", "facebook", "mistral", "microsoft",
    "amazon", "apple", "allen", "ai2", "alibaba", "baidu", "cohere", "hugging", "stability",
    "xai", "nvidia", "ibm", "lmsys", "tsinghua", "stanford", "berkeley", "databricks",
    "technology innovation", "tii", "01.ai", "inflection", "zhipu",
)  # fmt: skip
_I_AM_HINTS = ("i am ", "i'm ", "i’m ", "my name is ", "call me ", "i go by ")
_AS_HINTS = ("as ",)
_ROLE_HINTS = ("ai", "a.i.", "artificial intelligence", "assistant", "bot", "model", "llm")
_MADE_BY_HINTS = tuple(
    f"{made} by "
    for made in (
        "developed", "created", "trained", "built", "made", "designed", "programmed", "tuned",
        "released", "owned", "powered", "produced",
    )
)  # fmt: skip
_SELF_GATES = (
    (_I_AM_HINTS, _ASSISTANT_HINTS),
    (_AS_HINTS, _ASSISTANT_HINTS),
    (_MADE_BY_HINTS, _ROLE_HINTS),
    (_MADE_BY_HINTS, _VENDOR_HINTS),
    (_I_AM_HINTS, _VENDOR_HINTS, _ROLE_HINTS),
)
_SELF = tuple(
    (gate, re.compile(pattern, re.IGNORECASE))
    for gate, pattern in zip(_SELF_GATES, _SELF_PATTERNS, strict=True)
)
_DISTINCTIVE_GATE = (("openai", "anthropic", "deepmind", "gpt", "allen institute", "llama", "ai2"),)
_DISTINCTIVE = re.compile(rf"(?<![^\W_])(?:{DISTINCTIVE})(?![^\W_])")


def _gate_text(text: str) -> str:
    return " ".join(text.casefold().split()) + " "


def _passes(gate, gate_text: str) -> bool:
    return all(any(word in gate_text for word in group) for group in gate)


_TOKENS = re.compile(r"[^\W\d_]+|\d+")
# Between the parts of a name: nothing, or a space, hyphen, underscore, dot or slash.
_SEPARATOR = r"[\s._/-]{0,2}"
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Leak:
    """One finding: where (``field``), what was matched, the text around it, and the
    experiment's model it names (empty for self-identifications and vendors)."""

    field: str
    match: str
    context: str
    kind: str = KIND_MODEL
    model: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def name_tokens(name: str) -> tuple[str, ...]:
    """A model name as lower-case runs of letters and of digits, whatever separates them:
    "Tulu 65B", "tulu-65b", "tulu65b" and "TULU_65B" all give ("tulu", "65", "b"). An
    organisation prefix ("allenai/") is dropped: outputs name the model, not the repo."""
    return tuple(_TOKENS.findall(name.rsplit("/", 1)[-1].casefold()))


def name_aliases(name: str) -> set[tuple[str, ...]]:
    """The spellings looked for: the whole name, and its family (the first word, when the
    name has more parts and that word is not generic), e.g. "Tulu" for "tulu_65B"."""
    tokens = name_tokens(name)
    aliases = set()
    if len("".join(tokens)) >= MIN_NAME_CHARS:
        aliases.add(tokens)
    first = tokens[0] if tokens else ""
    if (
        len(tokens) > 1
        and first.isalpha()
        and len(first) >= MIN_NAME_CHARS
        and first not in GENERIC_WORDS
    ):
        aliases.add((first,))
    return aliases


class LeakFinder:
    """Finds leaks for a fixed set of model names; build once, use on many texts."""

    def __init__(self, model_names: Iterable[str]):
        self.model_of: dict[tuple[str, ...], str] = {}
        for name in sorted({n for n in model_names if n}):
            for alias in name_aliases(name):
                # A family shared by two models names both; keep the first, sorted.
                self.model_of.setdefault(alias, name)
        # Longest first, so "tulu 65b" wins over "tulu" at the same place.
        alternatives = [
            _SEPARATOR.join(re.escape(t) for t in alias)
            for alias in sorted(self.model_of, key=lambda a: (-len("".join(a)), a))
        ]
        self._names = (
            re.compile(rf"(?<![^\W_])(?:{'|'.join(alternatives)})(?![^\W_])", re.IGNORECASE)
            if alternatives
            else None
        )
        # Every spelling of a name starts with its first part.
        self._names_gate = (tuple({alias[0] for alias in self.model_of}),)

    def find(self, field: str, text: str) -> list[Leak]:
        """The leaks in one text, in order, overlapping findings merged (at most
        MAX_LEAKS_PER_FIELD)."""
        if not text:
            return []
        gate_text = _gate_text(text)
        spans: list[tuple[int, int, str, str]] = []
        for gate, pattern in _SELF:
            if _passes(gate, gate_text):
                for match in pattern.finditer(text):
                    spans.append((match.start(), match.end(), KIND_SELF, ""))
        if self._names is not None and _passes(self._names_gate, gate_text):
            for match in self._names.finditer(text):
                model = self.model_of.get(name_tokens(match.group()), "")
                spans.append((match.start(), match.end(), KIND_MODEL, model))
        if _passes(_DISTINCTIVE_GATE, gate_text):
            for match in _DISTINCTIVE.finditer(text):
                spans.append((match.start(), match.end(), KIND_VENDOR, ""))
        leaks = []
        end_of_last = -1
        # Earliest first, the longest of those starting together; a finding inside one
        # already kept adds nothing.
        for start, end, kind, model in sorted(spans, key=lambda s: (s[0], -s[1])):
            if start < end_of_last:
                continue
            end_of_last = end
            leaks.append(
                Leak(field, text[start:end], _context(text, start, end), kind=kind, model=model)
            )
            if len(leaks) == MAX_LEAKS_PER_FIELD:
                break
        return leaks

    def find_all(self, texts: Mapping[str, str]) -> list[Leak]:
        return [leak for field, text in texts.items() for leak in self.find(field, text)]

    def pair_flags(self, prompt: str, output_a: str, output_b: str) -> list[dict[str, str]]:
        """A pair's leaks as stored in Pair.leak_flags (empty: nothing found)."""
        # Most pairs pass no gate: one check over all three texts instead of three.
        if not self.could_leak(_gate_text(f"{prompt}\n{output_a}\n{output_b}")):
            return []
        texts = {"prompt": prompt, "output_a": output_a, "output_b": output_b}
        return [leak.as_dict() for leak in self.find_all(texts)]

    def could_leak(self, gate_text: str) -> bool:
        """False when no pattern can match the text (see the gates above)."""
        return (
            any(_passes(gate, gate_text) for gate, _ in _SELF)
            or (self._names is not None and _passes(self._names_gate, gate_text))
            or _passes(_DISTINCTIVE_GATE, gate_text)
        )


def _context(text: str, start: int, end: int) -> str:
    before = text[max(0, start - CONTEXT_CHARS) : start]
    after = text[end : end + CONTEXT_CHARS]
    prefix = "…" if start > CONTEXT_CHARS else ""
    suffix = "…" if end + CONTEXT_CHARS < len(text) else ""
    return _WHITESPACE.sub(" ", f"{prefix}{before}{text[start:end]}{after}{suffix}").strip()


def experiment_leaks(texts: Mapping[str, str], model_names: Iterable[str]) -> list[Leak]:
    """Leaks in an experiment's own texts (field label -> text), e.g. its reviewer-facing
    title, instructions and rubric dimension names, against its model names."""
    return LeakFinder(model_names).find_all(texts)


def pair_leaks(
    prompt: str, output_a: str, output_b: str, model_names: Iterable[str]
) -> list[dict[str, str]]:
    """One pair's leaks, as stored in Pair.leak_flags. Many pairs: build one LeakFinder."""
    return LeakFinder(model_names).pair_flags(prompt, output_a, output_b)


class LeakTally:
    """Counts a file's flagged pairs as they stream past, listing the first few (the
    upload preview). A model first met in a later row is looked for from then on; the
    flags stored after the import (experiments.flag_pair_leaks) use every name."""

    def __init__(self, model_names: Iterable[str], listed: int = 50):
        self.models = {n for n in model_names if n}
        self.finder = LeakFinder(self.models)
        self.listed = listed
        self.count = 0
        self.rows: list[dict] = []

    def __call__(self, pair) -> None:
        if new := {pair.model_a, pair.model_b} - self.models:
            self.models |= new
            self.finder = LeakFinder(self.models)
        flags = self.finder.pair_flags(pair.prompt, pair.output_a, pair.output_b)
        if flags:
            self.count += 1
            if len(self.rows) < self.listed:
                self.rows.append(
                    {"line": pair.line, "external_id": pair.external_id, "flags": flags}
                )
