// Progress page: polls the counts every 2 seconds (plain HTTP, no websockets) and moves the bar,
// until the alert is finished (sent, not sent or cancelled). Without it the page shows the counts
// at load time.
(function () {
  "use strict";

  var root = document.getElementById("progress");
  if (!root) return;
  var INTERVAL = 2000;
  var number = new Intl.NumberFormat(document.documentElement.lang || undefined);

  function setWidths(totals) {
    ["delivered", "sent", "no_receipt", "failed", "skipped"].forEach(function (key) {
      var el = root.querySelector('[data-bar="' + key + '"]');
      if (!el) return;
      var width = totals.planned ? (100 * totals[key] / totals.planned) : 0;
      el.style.width = width.toFixed(1) + "%";
      el.setAttribute("aria-valuenow", width.toFixed(0));
    });
  }

  function cell(text, right) {
    var td = document.createElement("td");
    if (right) td.className = "text-end";
    td.textContent = text;
    return td;
  }

  var noReceipt = "";

  function fillTable(key, rows) {
    var body = root.querySelector('[data-table="' + key + '"]');
    if (!body || !rows.length) return;
    body.replaceChildren.apply(body, rows.map(function (row) {
      var tr = document.createElement("tr");
      var sent = number.format(row.sent + row.no_receipt) +
        (row.no_receipt ? " (" + noReceipt + ": " + number.format(row.no_receipt) + ")" : "");
      tr.append(cell(row.name), cell(number.format(row.planned), true), cell(sent, true),
        cell(number.format(row.delivered), true), cell(number.format(row.failed), true),
        cell(number.format(row.skipped), true), cell(number.format(row.pending + row.deferred), true));
      return tr;
    }));
  }

  function apply(data) {
    var put = function (name, value) {
      var el = root.querySelector('[data-progress="' + name + '"]') || document.querySelector('[data-progress="' + name + '"]');
      if (el) el.textContent = value;
      return el;
    };
    put("percent_text", data.percent + "%");
    var badge = put("state_label", data.state_label);
    if (badge) {
      var colours = { sending: "text-bg-primary", sent: "text-bg-success", not_sent: "text-bg-danger",
        cancelled: "text-bg-dark" };
      badge.className = "badge " + (colours[data.state] || "text-bg-secondary");
    }
    put("eta_text", data.eta_text);
    root.querySelector('[data-progress="eta_wrap"]').hidden = !data.eta_text;
    put("deferred_until", data.deferred_until);
    root.querySelector('[data-progress="deferred_wrap"]').hidden = !data.totals.deferred;
    var bar = root.querySelector('[data-testid="progress-bar"]');
    bar.setAttribute("aria-valuenow", String(data.percent));
    bar.dataset.percent = String(data.percent);
    setWidths(data.totals);
    Object.keys(data.totals).forEach(function (key) {
      var el = root.querySelector('[data-count="' + key + '"]');
      if (el) el.textContent = number.format(data.totals[key]);
    });
    Object.keys(data.replies).forEach(function (key) {
      var el = root.querySelector('[data-reply="' + key + '"]');
      if (el) el.textContent = number.format(data.replies[key]);
    });
    Object.keys(data.calls || {}).forEach(function (key) {
      var el = root.querySelector('[data-call="' + key + '"]');
      if (el) el.textContent = number.format(data.calls[key]);
    });
    noReceipt = data.no_receipt_note || "";
    fillTable("by_language", data.by_language);
    fillTable("by_country", data.by_country);
    var reasons = root.querySelector('[data-table="skipped_reasons"]');
    if (reasons) {
      reasons.replaceChildren.apply(reasons, data.skipped_reasons.map(function (row) {
        var tr = document.createElement("tr");
        tr.dataset.reason = row.code;
        tr.append(cell(row.label), cell(number.format(row.count), true));
        return tr;
      }));
      root.querySelector('[data-progress="skipped_wrap"]').hidden = !data.skipped_reasons.length;
    }
    put("not_sent_text", data.not_sent_text);
    document.querySelector('[data-progress="not_sent_wrap"]').hidden = !data.not_sent_reason;
    root.dataset.finished = data.finished ? "true" : "false";
  }

  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data) apply(data);
        if (!data || !data.finished) setTimeout(poll, INTERVAL);
      })
      .catch(function () { setTimeout(poll, INTERVAL * 2); });
  }

  // Initial widths come from the page (no inline styles under the content security policy).
  root.querySelectorAll("[data-bar]").forEach(function (el) {
    el.style.width = (el.dataset.width || "0") + "%";
  });
  var bar = root.querySelector('[data-testid="progress-bar"]');
  bar.dataset.percent = bar.getAttribute("aria-valuenow");
  if (root.dataset.finished !== "true") setTimeout(poll, INTERVAL);
})();
