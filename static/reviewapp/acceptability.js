// Keys of the "is each output acceptable?" question (templates/review/_acceptability.html).
// Each yes/no radio carries its key in data-key (chosen in views/review.py), so this only
// looks the key up; it works on whatever form htmx has swapped in.
(function () {
  "use strict";

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.metaKey || event.ctrlKey || event.key.length !== 1) return;
    const target = event.target;
    if (target && (target.isContentEditable || target.tagName === "TEXTAREA" ||
        (target.tagName === "INPUT" && target.type === "text"))) return;
    const key = event.key.toUpperCase();
    const radios = document.querySelectorAll("#review-form .acceptability input[data-key]");
    const radio = Array.from(radios).find((r) => r.dataset.key === key);
    if (!radio) return;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    event.preventDefault();
  });
})();
