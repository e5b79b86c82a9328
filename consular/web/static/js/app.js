// Progressive enhancements only: every page works without this file.
(() => {
  "use strict";

  let uid = 0;
  const idOf = (el, stem) => el.id || (el.id = `${stem}-${++uid}`);

  // A field marked invalid on a hand-written form says so to assistive technology and names its
  // message (the shared form macros write both already).
  function describeInvalidFields() {
    document.querySelectorAll(".is-invalid:is(input, select, textarea)").forEach((field) => {
      if (!field.hasAttribute("aria-invalid")) field.setAttribute("aria-invalid", "true");
      const box = field.closest(".mb-3, .input-group, [class*='col']") || field.parentElement;
      const message = box && (box.querySelector(".invalid-feedback") || box.parentElement?.querySelector(":scope > .invalid-feedback"));
      if (!message) return;
      const described = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      const id = idOf(message, "error");
      if (!described.includes(id)) field.setAttribute("aria-describedby", [id, ...described].join(" "));
    });
  }

  // After a failed submit, focus goes to the list of what went wrong: a screen reader reads it,
  // and its links lead to each field.
  function focusErrorSummary() {
    const summary = document.querySelector("[data-error-summary]");
    if (!summary) return;
    const panel = summary.closest("details");
    if (panel) panel.open = true;
    summary.focus();
    summary.querySelectorAll("a[href^='#']").forEach((link) => {
      link.addEventListener("click", (event) => {
        const target = document.getElementById(link.getAttribute("href").slice(1));
        if (!target) return;
        event.preventDefault();
        const inside = target.closest("details");
        if (inside) inside.open = true;
        target.focus();
      });
    });
  }

  // The nearest heading before an element, in document order.
  function headingBefore(el) {
    let found = null;
    for (const h of document.querySelectorAll("main h1, main h2, main h3, main h4")) {
      if (h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) found = h;
      else break;
    }
    return found;
  }

  // The accessible name of the landmark an element is in, if any.
  function landmarkName(el) {
    const landmark = el.parentElement && el.parentElement.closest("section[aria-labelledby], [role=region]");
    if (!landmark) return null;
    const by = landmark.getAttribute("aria-labelledby");
    const label = by ? document.getElementById(by) : null;
    return (label ? label.textContent : landmark.getAttribute("aria-label") || "").trim();
  }

  // A table wider than the screen scrolls sideways: the keyboard must be able to reach it (a
  // focusable region named after the table), but only when it does scroll. Inside a landmark of
  // the same name (a section titled as its table) it is a named group instead, not a second
  // landmark of that name.
  function scrollableTables() {
    document.querySelectorAll(".table-responsive").forEach((box) => {
      const scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        const table = box.querySelector("table");
        const caption = table && table.querySelector("caption");
        const heading = headingBefore(box);
        const name = box.dataset.label || (caption && caption.textContent.trim())
          || (heading && heading.textContent.trim()) || document.title;
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", landmarkName(box) === name ? "group" : "region");
        box.setAttribute("aria-label", name);
        box.dataset.madeFocusable = "1";
      } else if (!scrolls && box.dataset.madeFocusable) {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
        delete box.dataset.madeFocusable;
      }
    });
  }

  // A sticky bar at the bottom (the Save bar of the phone form) never covers the focused field
  // (WCAG 2.4.11): the stylesheet's scroll margins cover the browser's own scrolling, this covers
  // a field the browser considers visible because only the bar is over it.
  function keepFocusClearOfStickyBars() {
    const bars = [...document.querySelectorAll(".submit-bar")];
    if (!bars.length) return;
    document.addEventListener("focusin", (event) => {
      // Keyboard focus only: scrolling under a pointer between press and release would turn a
      // tap on a tile into a tap on whatever then lies under the finger.
      if (!event.target.matches(":focus-visible")) return;
      const field = event.target.closest(".tile") || event.target;
      if (bars.some((bar) => bar.contains(field))) return;
      const rect = field.getBoundingClientRect();
      const barTop = Math.min(...bars.map((bar) => bar.getBoundingClientRect().top));
      const gap = 12;
      if (rect.bottom > barTop - gap) window.scrollBy({ top: rect.bottom - barTop + gap, behavior: "instant" });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    // Confirm destructive actions (deactivate, revoke) before submitting.
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    describeInvalidFields();
    keepFocusClearOfStickyBars();
    focusErrorSummary();
    scrollableTables();
    let pending = 0;
    window.addEventListener("resize", () => {
      window.cancelAnimationFrame(pending);
      pending = window.requestAnimationFrame(scrollableTables);
    });
  });
})();
