"""Writes hostile_pairs.jsonl beside this file (run it from the repository root).

Every output is something a model could plausibly emit and a reviewer's browser must survive.
203.0.113.0/24 is TEST-NET-3 (RFC 5737): never routed, so a request to it can only be a bug.
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMULA_MODEL = '=HYPERLINK("http://203.0.113.1/","x")'
AT_MODEL = "@tuned-model"
PLUS_MODEL = "+base-model"

CODE_LINE = "x = " + "+".join(f"v{i}" for i in range(60)) + "  # " + "no-break-" * 20
HUGE_CODE = "```python\n" + "\n".join(f"{CODE_LINE} {i}" for i in range(400)) + "\n```\n"
LONG_WORD = "A" * 100_000
LONG_WORDS = ("lorem ipsum dolor sit amet " * 4_000)[:100_000]
LONG_URL = "http://203.0.113.1/" + "a" * 3_000

PAIRS = [
    (
        "script-and-img",
        "Say hello <script>alert('prompt')</script>",
        "<script>alert(1)</script> Hello!",
        "<img src=x onerror=alert(1)> <img src=x onerror=\"document.title='PWNED'\"> Hi",
    ),
    (
        "links",
        "Give me a link [prompt-link](javascript:alert('prompt'))",
        "[click me](javascript:alert(1)) [upper](JaVaScRiPt:alert(1)) "
        "[tab](java\tscript:alert(1)) <javascript:alert(1)> "
        '<a href="javascript:alert(1)">raw anchor</a>',
        "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) "
        "[vbscript](vbscript:msgbox(1)) [fine link](https://example.org/ok)",
    ),
    (
        "remote-images",
        "Show a picture ![p](http://203.0.113.1/prompt.png)",
        "![x](http://203.0.113.1/x.png) ![y][ref]\n\n[ref]: https://203.0.113.2/y.gif\n",
        '<img src="http://203.0.113.1/z.png"> <video src="http://203.0.113.1/v.mp4"></video> '
        '<audio src="http://203.0.113.1/a.mp3"></audio> '
        "![svg](data:image/svg+xml,<svg onload=alert(1)>)",
    ),
    ("long-unbroken", "Repeat A a hundred thousand times", LONG_WORD, LONG_WORDS),
    (
        "huge-code",
        "Write a long program",
        HUGE_CODE,
        f"A very long link: [{LONG_URL}]({LONG_URL}) {LONG_URL}",
    ),
    (
        "right-to-left",
        "Translate into Arabic and Hebrew \u202eevil.exe\u202c",
        "مرحبا بالعالم — هذا نص عربي طويل " * 20 + " \u202egnp.exe\u202c",
        "שלום עולם, זהו טקסט בעברית " * 20 + " \u2067isolate\u2069 \u200f",
    ),
    (
        "emoji",
        "Reply with emoji 🙂",
        "👩‍👩‍👧‍👦🏳️‍🌈🧑🏽‍🚀 " * 200 + "\u200b" * 50 + "e\u0301" * 50,
        "🐈" * 3_000,
    ),
    (
        "formulas",
        "=1+1",
        '=HYPERLINK("http://203.0.113.1/","Click")',
        "@SUM(A1:A9)\n+1+1\n-2+3\n\t=1\n\r=1",
    ),
    (
        "entities-and-templates",
        "{{ 7*7 }} {% debug %} ${7*7}",
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; &#x3C;img src=x onerror=alert(1)&#x3E; "
        "&#106;avascript:alert(1)",
        "{{ request }} {% csrf_token %} <!-- comment --> ]]> <![CDATA[<script>alert(1)</script>]]>",
    ),
    (
        "active-content",
        "<style>body{display:none}</style> Style me",
        '<style>*{background:url("http://203.0.113.1/s.png")}</style> '
        '<iframe src="http://203.0.113.1/"></iframe> <svg onload=alert(1)><circle r=9></svg> '
        '<object data="http://203.0.113.1/o.swf"></object> <embed src="http://203.0.113.1/e">',
        '<base href="http://203.0.113.1/"> '
        '<meta http-equiv="refresh" content="0;url=http://203.0.113.1/"> '
        '<link rel="stylesheet" href="http://203.0.113.1/x.css"> '
        '<form action="http://203.0.113.1/"><button>Send</button></form> '
        '<math><mi xlink:href="javascript:alert(1)">m</mi></math> '
        "<details open ontoggle=alert(1)>d</details> "
        '<div style="position:fixed;inset:0">cover</div>',
    ),
    (
        "markdown-table",
        "Make a table",
        "| a | b |\n|---|---|\n| " + "wide-cell-" * 200 + " | <script>alert(1)</script> |\n",
        "> quote\n>> nested <img src=x onerror=alert(1)>\n\n- [ ] task\n\n***bold***",
    ),
]
MODELS = [(FORMULA_MODEL, AT_MODEL)] * 9 + [(PLUS_MODEL, AT_MODEL), (FORMULA_MODEL, PLUS_MODEL)]


def main() -> None:
    assert len(MODELS) == len(PAIRS)
    with open(HERE / "hostile_pairs.jsonl", "w", encoding="utf-8", newline="\n") as out:
        for (pair_id, prompt, output_a, output_b), (model_a, model_b) in zip(
            PAIRS, MODELS, strict=True
        ):
            row = {
                "pair_id": pair_id,
                "prompt": prompt,
                "model_a": model_a,
                "output_a": output_a,
                "model_b": model_b,
                "output_b": output_b,
                "note": "<script>alert('metadata')</script>",
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
