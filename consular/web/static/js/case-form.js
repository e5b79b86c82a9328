// Case screens, progressive enhancements only: every page works without this file.
//  - Log a case: abroad or in the city (the kind switch shows that kind's fields); add/remove a
//    person without a round trip; autosave the form to the server
//    (POST /cases/drafts, JSON, CSRF header) and to this device every few seconds, and restore
//    it after a reload or a dropped connection.
//  - Triage queue: j / k move between rows, Enter opens the case.
(() => {
  "use strict";

  const AUTOSAVE_MS = 4000;
  const SKIP_FIELDS = new Set(["csrf_token", "draft_id", "acknowledged", "same_as", "confirm_different"]);

  function storageKey(form) {
    return `consular.caseDraft.${form.dataset.user || "anon"}`;
  }

  function readLocal(key) {
    try {
      const raw = window.localStorage.getItem(key);
      return raw ? JSON.parse(raw) : null;
    } catch (_err) {
      return null;
    }
  }

  function writeLocal(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch (_err) {
      return false; // private mode or full: the server copy still works
    }
  }

  function dropLocal(key) {
    try { window.localStorage.removeItem(key); } catch (_err) { /* nothing kept */ }
  }

  // --- the form as a flat {name: value} object, and back ----------------------------------
  function serialise(form) {
    const payload = {};
    for (const el of form.elements) {
      if (!el.name || SKIP_FIELDS.has(el.name) || el.disabled || el.type === "file"
          || el.type === "submit" || el.type === "button") continue;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) continue;
      if (el.closest("template")) continue;
      payload[el.name] = el.value;
    }
    return payload;
  }

  function hasContent(payload) {
    return Object.entries(payload).some(([name, value]) => value && value.trim() !== ""
      && !/(^|-)(role|id_kind|gender)$/.test(name) && name !== "kind" && name !== "channel");
  }

  function fill(form, payload) {
    const wanted = personIndexes(payload);
    const list = form.querySelector("[data-person-list]");
    if (list) {
      for (const index of wanted) {
        if (!list.querySelector(`[data-person-index="${index}"]`)) addPerson(form, index);
      }
    }
    for (const el of form.elements) {
      if (!el.name || SKIP_FIELDS.has(el.name) || el.type === "file" || el.type === "submit") continue;
      if (!(el.name in payload)) continue;
      if (el.type === "radio" || el.type === "checkbox") {
        el.checked = payload[el.name] === el.value;
      } else {
        el.value = payload[el.name];
      }
    }
  }

  function personIndexes(payload) {
    const found = new Set();
    for (const name of Object.keys(payload)) {
      const match = /^persons-(\d+)-/.exec(name);
      if (match) found.add(Number(match[1]));
    }
    return [...found].sort((a, b) => a - b);
  }

  // --- people ---------------------------------------------------------------------------------
  function nextIndex(list) {
    let max = -1;
    list.querySelectorAll("[data-person-index]").forEach((card) => {
      max = Math.max(max, Number(card.dataset.personIndex));
    });
    return max + 1;
  }

  function renumber(list) {
    list.querySelectorAll("[data-person-number]").forEach((el, i) => {
      el.textContent = String(i + 1);
    });
  }

  function addPerson(form, index) {
    const list = form.querySelector("[data-person-list]");
    const template = form.querySelector("template[data-person-template]");
    if (!list || !template) return null;
    const at = index === undefined ? nextIndex(list) : index;
    const html = template.innerHTML.replaceAll("__index__", String(at));
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const card = holder.firstElementChild;
    list.appendChild(card);
    renumber(list);
    return card;
  }

  function wirePeople(form, onChange) {
    const list = form.querySelector("[data-person-list]");
    if (!list) return;
    form.querySelectorAll("button[name=add_person]").forEach((button) => {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        const card = addPerson(form);
        if (card) {
          const first = card.querySelector("input[type=text], input:not([type])");
          if (first) first.focus();
        }
        onChange();
      });
    });
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[name=remove_person]");
      if (!button) return;
      event.preventDefault();
      const card = button.closest("[data-person-index]");
      if (card && list.querySelectorAll("[data-person-index]").length > 1) {
        card.remove();
        renumber(list);
        onChange();
      }
    });
  }

  // --- where it happened: abroad or in the city -----------------------------------------------
  // The kind switch shows the fields of one kind of case only (without this script both are
  // shown, each under its own heading, and the server takes those of the kind chosen).
  function wireKind(form) {
    const radios = [...form.querySelectorAll("input[name=kind][type=radio]")];
    if (!radios.length) return;
    const apply = () => {
      const chosen = (radios.find((r) => r.checked) || radios[0]).value;
      form.querySelectorAll("[data-kind-section]").forEach((el) => {
        el.hidden = el.dataset.kindSection !== chosen;
      });
      form.querySelectorAll("[data-kind-only]").forEach((el) => {
        el.hidden = el.dataset.kindOnly !== chosen;
      });
      if (chosen === "domestic") {
        // A foreign national: nationality and passport come first, so unfold them.
        form.querySelectorAll("[data-person-list] details[data-person-details]").forEach((d) => {
          d.open = true;
        });
      }
    };
    radios.forEach((radio) => radio.addEventListener("change", apply));
    form.addEventListener("consular:redraw", apply);
    apply();
  }

  // --- autosave ---------------------------------------------------------------------------------
  function setStatus(el, text, offline) {
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("is-offline", Boolean(offline));
  }

  function timeNow() {
    return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function wireCaseForm(form) {
    const key = storageKey(form);
    const status = document.getElementById("draft-status");
    const draftField = form.querySelector("input[name=draft_id]");
    const csrf = form.querySelector("input[name=csrf_token]");
    let dirty = false;
    let saving = false;
    let lastSent = "";

    const markDirty = () => { dirty = true; };
    wirePeople(form, () => { markDirty(); form.dispatchEvent(new Event("consular:redraw")); });
    wireKind(form);
    form.addEventListener("input", markDirty);
    form.addEventListener("change", markDirty);

    // Restore what this device kept when the page comes up empty (a reload after a dropped
    // connection, a closed tab). A page the server filled (a draft, a refused form) wins.
    const kept = readLocal(key);
    const notice = document.getElementById("draft-restored");
    if (form.dataset.fresh === "true" && kept && kept.payload && hasContent(kept.payload)) {
      fill(form, kept.payload);
      form.dispatchEvent(new Event("consular:redraw"));
      if (draftField && kept.draft_id && !draftField.value) draftField.value = String(kept.draft_id);
      if (notice) {
        notice.hidden = false;
        const when = notice.querySelector("[data-restored-at]");
        if (when && kept.saved_at) when.textContent = new Date(kept.saved_at).toLocaleString();
      }
    }
    const startOver = document.getElementById("draft-start-over");
    if (startOver) {
      startOver.addEventListener("click", (event) => {
        event.preventDefault();
        dropLocal(key);
        window.location.assign(startOver.getAttribute("href"));
      });
    }

    async function save() {
      if (!dirty || saving) return;
      const payload = serialise(form);
      if (!hasContent(payload)) return;
      const body = JSON.stringify({ draft_id: draftField && draftField.value ? Number(draftField.value) : null, payload });
      dirty = false;
      writeLocal(key, { draft_id: draftField ? draftField.value : "", saved_at: Date.now(), payload });
      if (body === lastSent) return;
      saving = true;
      try {
        const response = await fetch(form.dataset.draftUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "Accept": "application/json",
                     "X-CSRFToken": csrf ? csrf.value : "" },
          body,
        });
        if (!response.ok) throw new Error(String(response.status));
        const answer = await response.json();
        if (draftField && answer.id) draftField.value = String(answer.id);
        writeLocal(key, { draft_id: answer.id, saved_at: Date.now(), payload });
        lastSent = JSON.stringify({ draft_id: answer.id, payload });
        setStatus(status, form.dataset.savedText.replace("%(time)s", timeNow()), false);
      } catch (_err) {
        dirty = true; // try again on the next tick
        setStatus(status, form.dataset.offlineText.replace("%(time)s", timeNow()), true);
      } finally {
        saving = false;
      }
    }

    window.setInterval(save, AUTOSAVE_MS);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") save();
    });
    form.addEventListener("submit", () => {
      // Keep this device's copy until the server confirms the case (the case page clears it).
      writeLocal(key, { draft_id: draftField ? draftField.value : "", saved_at: Date.now(), payload: serialise(form) });
    });
  }

  // --- triage queue: j / k / Enter, unless turned off on this device ---------------------------
  const KEYNAV_KEY = "consular.queueShortcuts";

  let keynavOn = (() => {
    try { return window.localStorage.getItem(KEYNAV_KEY) !== "off"; } catch (_err) { return true; }
  })();

  function wireShortcutSwitch() {
    const box = document.querySelector("[data-keynav-switch]");
    if (!box) return;
    const input = box.querySelector("input");
    input.checked = keynavOn;
    box.hidden = false;
    input.addEventListener("change", () => {
      keynavOn = input.checked;
      try { window.localStorage.setItem(KEYNAV_KEY, input.checked ? "on" : "off"); } catch (_err) { /* kept for this page only */ }
    });
  }

  function wireQueue(table) {
    const rows = () => [...table.querySelectorAll("tbody tr[data-href]")];
    let current = -1;
    const show = (i) => {
      const all = rows();
      if (!all.length) return;
      current = Math.max(0, Math.min(i, all.length - 1));
      all.forEach((row, n) => row.classList.toggle("is-current", n === current));
      all[current].scrollIntoView({ block: "nearest" });
      const link = all[current].querySelector("a");
      if (link) link.focus({ preventScroll: true });
    };
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      if (event.altKey || event.ctrlKey || event.metaKey || !keynavOn) return;
      if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) return;
      if (event.key === "j") { event.preventDefault(); show(current + 1); }
      else if (event.key === "k") { event.preventDefault(); show(current - 1); }
      else if (event.key === "Enter" && current >= 0 && !(target && target.tagName === "A")) {
        event.preventDefault();
        window.location.assign(rows()[current].dataset.href);
      }
    });
    table.addEventListener("click", (event) => {
      if (event.target.closest("a, button, input, select")) return;
      const row = event.target.closest("tr[data-href]");
      if (row) window.location.assign(row.dataset.href);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("form[data-case-form]");
    if (form) wireCaseForm(form);
    // The case page after a successful "log a case": this device's copy is no longer needed.
    document.querySelectorAll("[data-clear-draft]").forEach((el) => {
      dropLocal(`consular.caseDraft.${el.dataset.clearDraft}`);
    });
    const queue = document.querySelector("table[data-keynav]");
    if (queue) { wireShortcutSwitch(); wireQueue(queue); }
  });
})();
