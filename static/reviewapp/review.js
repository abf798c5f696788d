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
  function firstUnanswered(f) {
    return dimensions(f).findIndex((d) => !d.querySelector("input[type=radio]:checked"));
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
    const missing = firstUnanswered(f);
    if (missing >= 0) {
      setActive(f, missing);
      dimensions(f)[missing].querySelector("input[type=radio]").focus();
      return;
    }
    f.requestSubmit(document.getElementById("submit-button"));
  }

  document.addEventListener("keydown", function (event) {
    const f = form();
    if (!f || event.altKey || event.metaKey) return;
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"));
    if (typing) {
      if (event.key === "Escape") { target.blur(); event.preventDefault(); }
      else if (event.key === "Enter" && event.ctrlKey) { submit(f); event.preventDefault(); }
      return;
    }
    if (event.ctrlKey) return;
    const key = event.key;
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
    } else {
      return;
    }
    event.preventDefault();
  });

  // Clicking a dimension makes it the highlighted one.
  document.addEventListener("focusin", function (event) {
    const f = form();
    const fieldset = event.target.closest && event.target.closest("fieldset.dimension");
    if (f && fieldset) setActive(f, dimensions(f).indexOf(fieldset));
  });
})();
