// Compose screen: the whole SMS per language as sent (live), the one-click replacement of
// typographic characters, the recipients / cost / duration panel (refreshed from the server as the
// form changes), and showing only the fields that apply. Every part of the page works without it.
(function () {
  "use strict";

  var form = document.getElementById("compose-form");
  if (!form) return;
  var counter = window.SmsCounter;
  var timer = null;
  var inflight = null;

  // "1 SMS" / "2 SMS" in the page's language: the server gives each plural form (the catalog's
  // ngettext), the browser picks the one for the number (Intl.PluralRules, CLDR).
  var plurals = new Intl.PluralRules(document.documentElement.lang || undefined);
  function segmentsText(n) {
    var forms = (document.getElementById("language-tabs") || { dataset: {} }).dataset;
    var category = plurals.select(n);
    var key = "segments" + category.charAt(0).toUpperCase() + category.slice(1);
    return (forms[key] || forms.segmentsOther || "# SMS").replace("#", n.toLocaleString());
  }

  function pane(lang) { return form.querySelector('.tab-pane[data-lang="' + lang + '"]'); }
  function part(lang, name) {
    var p = pane(lang);
    return p ? p.querySelector('[data-part="' + name + '"]') : null;
  }

  // The SMS as texts.render_alert_sms builds it: marker + headline, message, instruction, then the
  // lines the server sent as the tail (validity, safety-check prompt, unsubscribe line).
  // Placeholders ({place}, {time}, {station}…) filled as for someone in the first target area
  // (the server sends the values; each recipient's own are filled when the message is sent).
  function fillPlaceholders(text, box) {
    var values = {};
    try { values = JSON.parse(box.dataset.fill || "{}"); } catch (e) { values = {}; }
    return text.replace(/\{([^{}\n]{1,40})\}/g, function (whole, name) {
      var key = name.trim();
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : whole;
    });
  }

  function wholeText(lang, box) {
    var headline = fillPlaceholders((part(lang, "headline") || {}).value || "", box);
    var body = fillPlaceholders(((part(lang, "body") || {}).value || "").replace(/\r\n?/g, "\n"), box);
    var instruction = fillPlaceholders(((part(lang, "instruction") || {}).value || "").replace(/\r\n?/g, "\n"), box);
    var marker = box.dataset.marker || "";
    var first = headline.trim();
    if (marker) first = first ? marker + first : marker.trim();
    return [first, body.trim(), instruction.trim(), box.dataset.tail || ""]
      .filter(function (line) { return line; }).join("\n");
  }

  function renderWhole(lang) {
    var box = form.querySelector('.sms-whole[data-lang="' + lang + '"]');
    if (!box || !counter) return;
    var text = wholeText(lang, box);
    var result = counter.analyse(text);
    var set = function (name, value) {
      var el = box.querySelector('[data-whole="' + name + '"]');
      if (el) el.textContent = value;
      return el;
    };
    set("text", text);
    var badge = set("encoding", result.encoding);
    badge.className = "badge " + (result.encoding === "UCS-2" ? "text-bg-warning" : "text-bg-success");
    set("characters", String(result.characters));
    set("segments", String(result.segments));
    // A letter outside GSM-7 (Chinese, Arabic…) makes UCS-2 unavoidable: then nothing is worth
    // replacing. Otherwise point out the typographic marks that force it, and offer the fix.
    var script = result.ucs2_chars.some(function (ch) { return /[\p{L}\p{M}]/u.test(ch); });
    var marks = script ? [] : result.ucs2_chars;
    set("forcing", marks.join(" "));
    box.querySelector('[data-whole="forcing-wrap"]').hidden = marks.length === 0;
    box.querySelector('[data-whole="script-note"]').hidden = !script;
    var typed = [part(lang, "headline"), part(lang, "body"), part(lang, "instruction")]
      .map(function (el) { return el ? el.value : ""; }).join("\n");
    var replaceable = !script && Object.keys(counter.analyse(typed).replaceable).length > 0;
    box.querySelector("[data-replace-all]").hidden = !replaceable;
    var pill = form.querySelector('[data-tab-segments="' + lang + '"]');
    if (pill) pill.textContent = result.segments ? segmentsText(result.segments) : "";
  }


  function languages() {
    return Array.from(form.querySelectorAll('input[name="languages"]')).map(function (el) { return el.value; });
  }

  function renderAllWhole() { languages().forEach(renderWhole); }

  function fillRows(tbody, rows) {
    tbody.replaceChildren.apply(tbody, rows.map(function (row) {
      var tr = document.createElement("tr");
      var name = document.createElement("td");
      name.textContent = row.name;
      var count = document.createElement("td");
      count.className = "text-end";
      count.textContent = row.count.toLocaleString();
      tr.append(name, count);
      return tr;
    }));
  }

  function applyEstimate(data) {
    var panel = document.getElementById("estimate-panel");
    var put = function (name, value) {
      var el = panel.querySelector('[data-estimate="' + name + '"]');
      if (el) el.textContent = value;
    };
    put("total", data.total_text);
    put("segments", data.segments.toLocaleString());
    put("cost", data.cost_text);
    put("duration", data.duration_text);
    fillRows(panel.querySelector('[data-estimate="by_language"]'), data.by_language);
    fillRows(panel.querySelector('[data-estimate="by_country"]'), data.by_country);
    panel.querySelector('[data-estimate="empty"]').hidden = data.total > 0;
    // Nobody reachable, or quiet hours outlasting the expiry: said before anyone approves it.
    var warnings = panel.querySelector('[data-estimate="warnings"]');
    if (warnings) {
      var list = warnings.querySelector("ul");
      list.replaceChildren.apply(list, (data.warnings || []).map(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        return item;
      }));
      warnings.hidden = !(data.warnings || []).length;
    }
    Object.keys(data.languages).forEach(function (lang) {
      var box = form.querySelector('.sms-whole[data-lang="' + lang + '"]');
      if (!box) return;
      box.dataset.marker = data.languages[lang].marker;
      box.dataset.tail = data.languages[lang].tail;
      box.dataset.fill = JSON.stringify(data.languages[lang].fill || {});
      var automatic = box.querySelector('[data-whole="automatic"]');
      if (automatic) automatic.textContent = automatic.dataset.template
        .replace("#units", String(data.languages[lang].automatic_units))
        .replace("#share", String(data.languages[lang].automatic_share) + "%");
      renderWhole(lang);
    });
    var runs = document.getElementById("next-runs");
    if (runs) {
      runs.replaceChildren();
      if (data.runs_error) {
        var warn = document.createElement("div");
        warn.className = "text-danger";
        warn.textContent = data.runs_error;
        runs.append(warn);
      } else if (data.runs.length) {
        var list = document.createElement("ul");
        list.className = "list-unstyled mb-0";
        data.runs.forEach(function (run) {
          var li = document.createElement("li");
          li.textContent = run;
          list.append(li);
        });
        runs.append(list);
      }
    }
  }

  function refresh() {
    var body = new FormData(form);
    body.delete("action");
    if (inflight) inflight.abort();
    inflight = new AbortController();
    fetch(form.dataset.estimateUrl, {
      method: "POST", body: body, credentials: "same-origin", signal: inflight.signal,
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (response.ok) return response.json();
      // The form as it stands cannot be aimed (a polygon of two corners, a radius of 0): the
      // figures shown would be those of an area that is no longer there, so say why instead.
      if (response.status === 400) {
        return response.json().then(function (body) {
          return { refused: (body && body.message) || "" };
        }, function () { return null; });
      }
      return null;
    }).then(function (data) {
      if (data && data.refused !== undefined) {
        showRefusal(data.refused);
      } else if (data) {
        showRefusal(null);
        applyEstimate(data);
        document.dispatchEvent(new CustomEvent("alert-estimate", { detail: data }));
      }
    }).catch(function () { /* offline or aborted: keep the last figures */ });
  }

  // A refused estimate: its message in the panel, the figures blanked; null: the message hidden.
  function showRefusal(message) {
    var panel = document.getElementById("estimate-panel");
    var note = panel.querySelector('[data-estimate="refused"]');
    if (!note) return;
    note.textContent = message || "";
    note.hidden = message === null;
    if (message === null) return;
    ["total", "segments", "cost", "duration"].forEach(function (name) {
      var el = panel.querySelector('[data-estimate="' + name + '"]');
      if (el) el.textContent = "\u2014";
    });
    ["by_language", "by_country"].forEach(function (name) {
      var el = panel.querySelector('[data-estimate="' + name + '"]');
      if (el) el.replaceChildren();
    });
    panel.querySelector('[data-estimate="empty"]').hidden = true;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  function showIf() {
    var mode = (form.querySelector('input[name="send_mode"]:checked') || {}).value || "now";
    // A recurring schedule shows the fields of its kind only (a kind matters in recurring mode).
    var kindField = form.querySelector('[name="recurrence_kind"]');
    var kind = kindField ? kindField.value : "";
    form.querySelectorAll("[data-show-if-mode], [data-show-if-kind]").forEach(function (el) {
      var modes = el.dataset.showIfMode, kinds = el.dataset.showIfKind;
      var shown = !modes || modes.split(" ").indexOf(mode) !== -1;
      if (shown && kinds && (!modes || mode === "recurring")) shown = kinds.split(" ").indexOf(kind) !== -1;
      el.hidden = !shown;
    });
    var safety = form.querySelector('input[name="safety_check"]');
    form.querySelectorAll('[data-show-if="safety_check"]').forEach(function (el) {
      el.hidden = !(safety && safety.checked);
    });
  }

  form.addEventListener("input", function (event) {
    var p = event.target.closest(".tab-pane");
    if (p) renderWhole(p.dataset.lang);
    if (event.target.matches('[data-part="body"], [data-part="headline"], [data-part="instruction"]')) {
      // Texts change the segments (and so the cost) only: refresh less eagerly.
      clearTimeout(timer);
      timer = setTimeout(refresh, 800);
    } else {
      schedule();
    }
  });
  form.addEventListener("change", function () { showIf(); schedule(); });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("[data-replace-all]");
    if (button && counter) {
      var lang = button.dataset.replaceAll;
      ["headline", "body", "instruction"].forEach(function (name) {
        var el = part(lang, name);
        if (el) {
          el.value = counter.replaceLookalikes(el.value);
          el.dispatchEvent(new Event("input", { bubbles: true }));
        }
      });
      return;
    }
    var add = event.target.closest("[data-add-area]");
    if (add) {
      event.preventDefault();
      var rows = document.getElementById("area-rows");
      var last = rows.querySelector(".area-row:last-child");
      var copy = last.cloneNode(true);
      copy.querySelectorAll("select, input").forEach(function (el) { el.value = ""; el.classList.remove("is-invalid"); });
      copy.querySelectorAll(".invalid-feedback").forEach(function (el) { el.remove(); });
      rows.append(copy);
      copy.querySelector("select").focus();
    }
  });

  showIf();
  renderAllWhole();
  refresh();
})();
