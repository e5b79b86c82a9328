// SMS counter: encoding (GSM-7 or UCS-2), billed characters and segments of a text, live.
//
// The same algorithm as alerts/channels/sms/encoding.py, which is Twilio's segment calculator's: escape pairs
// and (in UCS-2) graphemes are never cut between two parts. Graphemes come from the same pinned
// splitter the calculator uses (vendor/grapheme-splitter-1.0.4, loaded before this script):
// the browser's Intl.Segmenter follows later Unicode rules and would part what the calculator
// keeps whole (and the reverse). tests/data/sms_segments_corpus.json holds what the calculator
// says for a few hundred texts; both counters are tested against it.
//
// window.SmsCounter.analyse(text) -> {encoding, units, characters, segments, segment_units,
//   per_segment, remaining_in_segment, ucs2_chars, replaceable}
// window.SmsCounter.replaceLookalikes(text) -> text with GSM-7 stand-ins
//
// Progressive enhancement: <textarea data-sms-counter="ID"> gets a live counter in the element
// with that id. The element carries the labels, so the template translates them:
//   <div id="ID" data-label-encoding="Encoding" data-label-characters="Characters"
//        data-label-segments="Segments" data-label-remaining="Left in this segment"
//        data-label-forcing="Characters forcing UCS-2" data-label-replace="Replace"
//        data-label-none="none"></div>
(function () {
  "use strict";

  // GSM 03.38 basic table in code-point order; 0x1B (escape) is left out.
  var BASIC =
    "@£$¥èéùìòÇ\nØø\rÅå" +
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ" +
    " !\"#¤%&'()*+,-./" +
    "0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNO" +
    "PQRSTUVWXYZÄÖÑÜ§" +
    "¿abcdefghijklmno" +
    "pqrstuvwxyzäöñüà";
  var EXTENSION = "\f^{}\\[~]|€";
  var GSM_SINGLE = 160, GSM_MULTI = 153, UCS2_SINGLE = 70, UCS2_MULTI = 67;
  var MAX_SHOWN = 10; // forcing characters listed by the counter

  // Keep in step with LOOKALIKES in alerts/channels/sms/encoding.py.
  var LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u02bc": "'", "\u00b4": "'", "`": "'", "\u2039": "'", "\u203a": "'",
    "\u201c": "\"", "\u201d": "\"", "\u201e": "\"", "\u201f": "\"", "\u2033": "\"",
    "\u00ab": "\"", "\u00bb": "\"",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u2022": "-",
    "\u2026": "...",
    "\u00a0": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ",
    "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ",
    "\u202f": " ", "\u205f": " ", "\t": " ",
    "\u200b": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "\u00d7": "x", "\u2044": "/"
  };

  var basicSet = new Set(Array.from(BASIC));
  var extensionSet = new Set(Array.from(EXTENSION));
  var has = Object.prototype.hasOwnProperty;

  function isGsm7(ch) {
    return basicSet.has(ch) || extensionSet.has(ch);
  }

  var splitter = new window.GraphemeSplitter();

  // The graphemes of a text as the calculator sees them: a CR LF pair counts as two.
  function graphemes(text) {
    var out = [];
    splitter.splitGraphemes(text).forEach(function (g) {
      if (g === "\r\n") out.push("\r", "\n"); else out.push(g);
    });
    return out;
  }

  // Units in each segment, as alerts/channels/sms/encoding.py's _pack (the calculator's segment building):
  // the first segment fills up to `single`; when something does not fit, it gets its header and
  // keeps `multi` (what no longer fits moves on whole); every later segment holds `multi`.
  function pack(costs, single, multi) {
    var parts = [[]], used = [0], i;
    for (i = 0; i < costs.length; i++) {
      var capacity = parts.length === 1 ? single : multi;
      if (capacity - used[used.length - 1] < costs[i]) {
        parts.push([]);
        used.push(0);
        if (parts.length === 2) {
          var moved = [];
          while (used[0] > multi) {
            var last = parts[0].pop();
            used[0] -= last;
            moved.unshift(last);
          }
          moved.forEach(function (cost) { parts[1].push(cost); used[1] += cost; });
        }
      }
      parts[parts.length - 1].push(costs[i]);
      used[used.length - 1] += costs[i];
    }
    return used;
  }

  function analyse(text) {
    text = text || "";
    var chars = Array.from(text); // code points, as Python iterates a str
    var forcing = [], seen = new Set();
    chars.forEach(function (ch) {
      if (!isGsm7(ch) && !seen.has(ch)) { seen.add(ch); forcing.push(ch); }
    });
    var gsm = forcing.length === 0;
    // GSM-7: every character is a grapheme of its own; UCS-2: a grapheme costs its UTF-16 units.
    var costs = gsm
      ? chars.map(function (ch) { return extensionSet.has(ch) ? 2 : 1; })
      : graphemes(text).map(function (g) { return g.length; });
    var single = gsm ? GSM_SINGLE : UCS2_SINGLE, multi = gsm ? GSM_MULTI : UCS2_MULTI;
    var segmentUnits = pack(costs, single, multi);
    var units = segmentUnits.reduce(function (a, b) { return a + b; }, 0);
    var perSegment = segmentUnits.length === 1 ? single : multi;
    var replaceable = {};
    forcing.forEach(function (ch) {
      if (has.call(LOOKALIKES, ch)) replaceable[ch] = LOOKALIKES[ch];
    });
    return {
      encoding: gsm ? "GSM-7" : "UCS-2",
      units: units,
      characters: gsm ? units : costs.length,
      segments: segmentUnits.length,
      segment_units: segmentUnits,
      per_segment: perSegment,
      remaining_in_segment: Math.max(0, perSegment - segmentUnits[segmentUnits.length - 1]),
      ucs2_chars: forcing,
      replaceable: replaceable
    };
  }

  function replaceLookalikes(text) {
    return Array.from(text || "").map(function (ch) {
      return has.call(LOOKALIKES, ch) ? LOOKALIKES[ch] : ch;
    }).join("");
  }

  // How a forcing character is shown: invisible ones by their code point.
  function visible(ch) {
    if (/^[\s\u200b-\u200f\u2060\ufeff\u00ad\ufe00-\ufe0f\u20e3]$/.test(ch)) {
      return "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    }
    return ch;
  }

  function item(label, value, name) {
    var span = document.createElement("span");
    span.className = "sms-counter-item me-3";
    span.dataset.field = name;
    var strong = document.createElement("strong");
    strong.textContent = value;
    span.append(label ? label + ": " : "", strong);
    return span;
  }

  function render(textarea, target) {
    var labels = target.dataset;
    var result = analyse(textarea.value);
    var parts = [
      item(labels.labelEncoding, result.encoding, "encoding"),
      item(labels.labelCharacters, String(result.characters), "characters"),
      item(labels.labelSegments, String(result.segments), "segments"),
      item(labels.labelRemaining, String(result.remaining_in_segment), "remaining")
    ];
    // A text in a non-Latin script (Chinese, Arabic, Cyrillic…) is UCS-2 by nature: say so once,
    // and list only the characters a writer could change (smart quotes and the like).
    var scriptText = result.ucs2_chars.some(function (ch) {
      return /\p{L}/u.test(ch) && !/\p{Script=Latin}/u.test(ch);
    });
    var listed = scriptText
      ? result.ucs2_chars.filter(function (ch) { return ch in result.replaceable; })
      : result.ucs2_chars;
    if (scriptText && labels.labelScript) {
      parts.push(item("", labels.labelScript, "script"));
    }
    if (listed.length) {
      var forcing = item(labels.labelForcing, "", "ucs2");
      var strong = forcing.querySelector("strong");
      listed.slice(0, MAX_SHOWN).forEach(function (ch) {
        var code = document.createElement("code");
        code.className = "sms-counter-char me-1";
        code.textContent = visible(ch);
        code.title = "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
        strong.append(code);
      });
      if (listed.length > MAX_SHOWN) {
        strong.append("+" + (listed.length - MAX_SHOWN));
      }
      parts.push(forcing);
      if (Object.keys(result.replaceable).length) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-sm btn-outline-secondary sms-counter-replace";
        button.textContent = labels.labelReplace || "⇄";
        button.addEventListener("click", function () {
          textarea.value = replaceLookalikes(textarea.value);
          textarea.dispatchEvent(new Event("input", { bubbles: true }));
          textarea.focus();
        });
        parts.push(button);
      }
    }
    target.classList.toggle("sms-counter-ucs2", result.encoding === "UCS-2");
    target.dataset.encoding = result.encoding;
    target.dataset.segments = String(result.segments);
    target.replaceChildren.apply(target, parts);
  }

  function enhance(root) {
    (root || document).querySelectorAll("textarea[data-sms-counter]").forEach(function (textarea) {
      var target = document.getElementById(textarea.dataset.smsCounter);
      if (!target || textarea.dataset.smsCounterBound) return;
      textarea.dataset.smsCounterBound = "1";
      if (!target.hasAttribute("aria-live")) target.setAttribute("aria-live", "polite");
      textarea.addEventListener("input", function () { render(textarea, target); });
      render(textarea, target);
    });
  }

  window.SmsCounter = { analyse: analyse, replaceLookalikes: replaceLookalikes, enhance: enhance };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enhance(); });
  } else {
    enhance();
  }
})();
