// Keyboard use of the review screen. Works on whatever #review-form is on the page,
// so it keeps working after htmx swaps in the next pair.
(function () {
  "use strict";

  function form() { return document.getElementById("review-form"); }
  function dimensions(f) { return Array.from(f.querySelectorAll("fieldset.dimension")); }
  function activeIndex(f) {
    const dims = dimensions(f);
    const i = dims.findIndex((d) => d.classList.contains("active"));
    return i < 0 ? 0 : i;
  }
  function setActive(f, index) {
    const dims = dimensions(f);
    if (!dims.length) return;
    const i = Math.max(0, Math.min(index, dims.length - 1));
    dims.forEach((d, j) => d.classList.toggle("active", j === i));
    dims[i].scrollIntoView({ block: "nearest" });
  }
  function unanswered(f) {
    return dimensions(f).filter((d) => !d.querySelector("input[type=radio]:checked"));
  }
  function say(text) {
    const status = document.getElementById("review-status");
    if (!status) return;
    // Emptied first, so the same message said twice is announced twice.
    status.textContent = "";
    window.setTimeout(() => { status.textContent = text; }, 50);
  }
  function choose(f, predicate) {
    const dims = dimensions(f);
    const i = activeIndex(f);
    const radio = Array.from(dims[i].querySelectorAll("input[type=radio]")).find(predicate);
    if (!radio) return;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    if (i < dims.length - 1) setActive(f, i + 1);
  }
  function submit(f) {
    const missing = unanswered(f);
    dimensions(f).forEach((d) => d.classList.toggle("missing", missing.includes(d)));
    if (missing.length) {
      const names = missing.map((d) => d.querySelector("legend").textContent.trim());
      say(`Not sent: still to answer ${names.join(", ")}.`);
      setActive(f, dimensions(f).indexOf(missing[0]));
      missing[0].querySelector("input[type=radio]").focus();
      return;
    }
    say("");
    f.requestSubmit(document.getElementById("submit-button"));
  }
  function instructions() { return document.getElementById("instructions"); }
  function showInstructions() {
    const dialog = instructions();
    if (!dialog) return;
    if (dialog.open && !dialog.matches(":modal")) dialog.close(); // opened by the page itself
    if (!dialog.open) dialog.showModal();
  }
  // A scrollable box the reader has focused (an output, the prompt): its arrows scroll it.
  function inScrollBox(target) {
    return target && target.closest && target.closest(".output .text, .prompt");
  }
  const SCROLL_KEYS = ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "PageUp", "PageDown", "Home", "End", " "];

  document.addEventListener("keydown", function (event) {
    const f = form();
    if (!f || event.altKey || event.metaKey) return;
    const dialog = instructions();
    if (dialog && dialog.open) {
      if (event.key === "?") { dialog.close(); event.preventDefault(); }
      return; // Esc and the dialog's own button close it; nothing answers behind it.
    }
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"));
    if (typing) {
      if (event.key === "Escape") { target.blur(); event.preventDefault(); }
      else if (event.key === "Enter" && event.ctrlKey) { submit(f); event.preventDefault(); }
      return;
    }
    if (event.ctrlKey) return;
    const key = event.key;
    if (SCROLL_KEYS.includes(key) && inScrollBox(target)) return; // the browser scrolls it
    if (/^[1-9]$/.test(key)) {
      choose(f, (r) => r.dataset.key === key);
    } else if (key === "ArrowLeft") {
      choose(f, (r) => r.value.startsWith("left"));
    } else if (key === "ArrowRight") {
      choose(f, (r) => r.value.startsWith("right"));
    } else if (key === "ArrowDown") {
      setActive(f, activeIndex(f) + 1);
    } else if (key === "ArrowUp") {
      setActive(f, activeIndex(f) - 1);
    } else if (key === "Enter") {
      if (target && (target.tagName === "BUTTON" || target.tagName === "A")) return;
      submit(f);
    } else if (key === "s" || key === "S") {
      document.getElementById("skip-button").click();
    } else if (key === "?") {
      showInstructions();
    } else {
      return;
    }
    event.preventDefault();
  });

  // Clicking a dimension makes it the highlighted one; answering it clears its warning.
  document.addEventListener("focusin", function (event) {
    const f = form();
    const fieldset = event.target.closest && event.target.closest("fieldset.dimension");
    if (f && fieldset) setActive(f, dimensions(f).indexOf(fieldset));
  });
  document.addEventListener("change", function (event) {
    const fieldset = event.target.closest && event.target.closest("fieldset.dimension");
    if (fieldset) fieldset.classList.remove("missing");
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("#instructions-button")) showInstructions();
  });

  // The page opens the instructions before the first pair (an open, non-modal dialog, which
  // works without script); made modal here so keys and focus stay in it until it is closed.
  function upgradeInstructions() {
    const dialog = instructions();
    if (dialog && dialog.open) showInstructions();
  }
  upgradeInstructions();
  document.addEventListener("htmx:afterSettle", upgradeInstructions);
})();
