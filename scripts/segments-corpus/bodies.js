// The bodies of the SMS segment corpus: each one is there to hit a boundary or a kind of text
// where a counter can go wrong. generate.js asks Twilio's calculator what each one costs.
//
// Capacities (a 140-octet segment, 6 octets of concatenation header once a text is split):
// GSM-7 160 septets alone or 153 per part; UCS-2 70 units alone or 67 per part. A character of the
// GSM-7 extension table (€ [ ] { } ^ ~ | \ and form feed) costs two septets; in UCS-2 every
// grapheme costs its UTF-16 units and is never cut between two parts.
"use strict";

const bodies = [];
const names = new Set();

function add(name, text) {
  if (names.has(name)) throw new Error(`duplicate corpus name: ${name}`);
  names.add(name);
  bodies.push({ name, text });
}

const rep = (s, n) => s.repeat(n);
const LOREM = "Stay indoors and keep away from windows. Follow the instructions of the local police. ";
function gsmText(length) {
  // Plain GSM-7 prose of exactly `length` septets.
  let out = "";
  while (out.length < length) out += LOREM;
  return out.slice(0, length);
}
const CJK = "请注意安全避开人群留在室内关好门窗听从当地警方指示保持手机畅通";
function cjkText(length) {
  let out = "";
  while (out.length < length) out += CJK;
  return out.slice(0, length);
}
function lastOf(label, ch, ...lengths) {
  // `label n` for each length n: GSM-7 prose that `ch` brings to n characters.
  for (const n of lengths) add(`${label} ${n}`, gsmText(n - 1) + ch);
}

// --- empty and tiny ------------------------------------------------------------------------------
add("empty", "");
add("one space", " ");
add("one letter", "a");
add("hello", "Hello");
add("only a newline", "\n");

// --- GSM-7 lengths around every boundary ----------------------------------------------------------
for (const n of [1, 70, 152, 153, 154, 159, 160, 161, 162, 305, 306, 307, 458, 459, 460, 612, 613,
                 1530, 1531, 1600]) {
  add(`gsm ${n} septets`, gsmText(n));
}
add("gsm 20 segments", gsmText(153 * 20));

// --- GSM-7 escape pairs ---------------------------------------------------------------------------
const EXTENSION = ["€", "[", "]", "{", "}", "^", "~", "|", "\\", "\f"];
add("every extension character", EXTENSION.join(""));
add("80 euro signs", rep("€", 80));
add("81 euro signs", rep("€", 81));
add("158 septets and a euro sign", gsmText(158) + "€");
add("159 septets and a euro sign", gsmText(159) + "€");
add("151 septets and a bracket", gsmText(151) + "[");
add("152 septets and a bracket", gsmText(152) + "[");
for (const ch of EXTENSION) {
  const code = ch.codePointAt(0).toString(16).padStart(4, "0");
  // The pair would take septets 153 and 154: it moves to part two.
  add(`escape U+${code} straddles 153, 161 septets`, gsmText(152) + ch + rep("y", 7));
  // Same straddle, and part two then ends exactly full: a third part is needed.
  add(`escape U+${code} straddles 153, 306 septets`, gsmText(152) + ch + rep("y", 152));
}
add("escape straddles 153, 305 septets", gsmText(152) + "€" + rep("y", 151));
add("escape straddles 153, 307 septets", gsmText(152) + "€" + rep("y", 153));
add("escape ends part one exactly", gsmText(151) + "€" + rep("y", 153));
add("escape straddles 306", gsmText(305) + "{" + rep("z", 10));
add("escape straddles 459", gsmText(458) + "}" + rep("z", 10));
add("escapes on both boundaries", gsmText(152) + "^" + gsmText(151) + "~" + gsmText(20));
add("escape pairs only, 77 of them", rep("{}", 38) + "|");
add("escape pairs only, 154 septets", rep("[]", 38) + "\\");
add("escape pairs only, 460 septets", rep("€", 230));
add("escape pairs after one letter", "a" + rep("€", 80));
add("escape pairs after one letter, 306", "a" + rep("|", 152) + "a");
add("escape every 10 septets, long", rep("Euro 10 € ", 60));

// --- GSM-7 tables ---------------------------------------------------------------------------------
add("GSM basic table", "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
add("Greek capitals of the basic table", "ΔΦΓΛΩΠΨΣΘΞ");
add("German", "Grüße aus München! Bleiben Sie zu Hause.");
add("Italian with basic-table accents", "Città di Prato: è vietato uscire, però è già tardi.");
add("Spanish with an acute accent outside GSM", "¿Dónde está la embajada?");
add("capital C cedilla", "Ça va");
add("small c cedilla", "ça va");
add("Greek lower case", "Καλημέρα");
add("backtick", "run `home` now");
add("at and dollar", "Email help@example.org, fee $5");

// --- line breaks ----------------------------------------------------------------------------------
add("LF", "line one\nline two");
add("CRLF", "line one\r\nline two");
add("CR alone", "line one\rline two");
add("mixed LF and CRLF", "a\nb\r\nc");
add("CRLF at 159-160", gsmText(159) + "\r\n");
add("CRLF at 160-161", gsmText(160) + "\r\n");
add("CRLF straddles 153", gsmText(152) + "\r\n" + gsmText(20));
add("CRLF straddles 153, 306 septets", gsmText(152) + "\r\n" + gsmText(152));
add("many CRLF", rep("ok\r\n", 60));
add("CRLF in UCS-2", "你好\r\n世界");
add("CRLF straddles 67 in UCS-2", cjkText(66) + "\r\n" + cjkText(10));
add("CRLF straddles 67 in UCS-2, 134 units", cjkText(66) + "\r\n" + cjkText(66));
add("CRLF at 70 in UCS-2", cjkText(68) + "\r\n");
add("blank lines", "\n\n\n");

// --- spaces ---------------------------------------------------------------------------------------
add("NBSP", "10\u00a0km");
add("narrow NBSP", "10\u202fkm");
add("NBSP only", "\u00a0");
lastOf("NBSP in", "\u00a0", 70, 71);
add("NBSP in a long text", gsmText(200) + "\u00a0" + gsmText(100));
add("tab", "tab\there");
lastOf("tab at", "\t", 70, 71);
add("ideographic space", "你好\u3000世界");
add("zero-width space", "a\u200bb");
add("zero-width space straddles 67", gsmText(66) + "\u200b" + gsmText(10));
add("em space and thin space", "a\u2003b\u2009c");
add("form feed alone", "\f");

// --- "smart" characters: sent as typed (no smart encoding) ----------------------------------------
add("smart quotes, dash and ellipsis", "It’s “fine” – really…");
add("French guillemets", "«Attention» : rester à l’abri");
lastOf("one smart quote in", "’", 70, 71, 134, 135);
add("one smart quote, long", "Don’t " + gsmText(300));
add("em dash", "Now—go home");
add("fullwidth punctuation", "注意！（重要）：请留在室内。");
add("bullet", "• stay in\n• call home");
add("euro sign in UCS-2", "€你");
add("escape characters cost one in UCS-2", rep("€", 69) + "你");
add("escape characters in UCS-2, 71", rep("[", 70) + "’");

// --- UCS-2 lengths around every boundary -----------------------------------------------------------
for (const n of [1, 2, 66, 67, 68, 69, 70, 71, 72, 133, 134, 135, 136, 201, 202, 268, 269,
                 670, 671, 700]) {
  add(`cjk ${n} characters`, cjkText(n));
}
add("cjk 15 segments", cjkText(67 * 15));

// --- surrogate pairs at the 67 boundary ----------------------------------------------------------
for (const k of [65, 66, 67]) {
  add(`emoji after ${k} cjk, 3 more`, cjkText(k) + "😀" + cjkText(3));
}
add("emoji straddles 67, 134 units", cjkText(66) + "😀" + cjkText(66));
add("emoji straddles 67, 135 units", cjkText(66) + "😀" + cjkText(67));
add("emoji at 69-70", cjkText(68) + "😀");
add("emoji at 70-71", cjkText(69) + "😀");
add("emoji only, 35", rep("😀", 35));
add("emoji only, 36", rep("😀", 36));
add("emoji only, 67", rep("😀", 67));
add("emoji after a letter, 71 units", "a" + rep("😀", 35));
add("emoji after a letter, 134 units", "a" + rep("😀", 66) + "a");
add("CJK extension B", "𠀀𠀁𠀂 " + cjkText(10));
add("CJK extension B straddles 67", cjkText(66) + "𠮷" + cjkText(20));

// --- graphemes made of several code points at the 67 boundary ------------------------------------
const SEQUENCES = {
  "flag IT": "🇮🇹",
  "flag CN": "🇨🇳",
  "skin tone thumbs up": "👍🏽",
  "skin tone wave": "👋🏿",
  "family of four": "👨‍👩‍👧‍👦",
  "couple with heart": "👩‍❤️‍👨",
  "kiss": "👩‍❤️‍💋‍👨",
  "rainbow flag": "🏳️‍🌈",
  "woman technologist with skin tone": "👩🏽‍💻",
  "keycap one": "1️⃣",
  "keycap hash": "#️⃣",
  "heart with VS16": "❤️",
  "phone with VS16": "☎️",
  "e with combining acute": "e\u0301",
  "a with three combining marks": "a\u0301\u0323\u0308",
  "Devanagari ksha": "क्ष",
  "Devanagari nii": "नी",
  "Devanagari ste": "स्ते",
  "Tamil ksha": "க்ஷ",
  "Bengali ksha": "ক্ষ",
  "Thai nam": "น้ำ",
  "Arabic with harakat": "مَ",
  "Hebrew with niqqud": "שָׁ",
  "Hangul jamo": "\u1100\u1161\u11a8",
  "Scotland tag flag": "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
  "people holding hands": "🧑‍🤝‍🧑",
  "woman with red hair": "👩‍🦰",
  "heart on fire": "❤️‍🔥",
  "polar bear": "🐻‍❄️",
  "ninja with skin tone": "🥷🏽",
  "pinched fingers with skin tone": "🤌🏻",
  "eye in speech bubble": "👁️‍🗨️",
};
for (const [label, seq] of Object.entries(SEQUENCES)) {
  const size = seq.length; // UTF-16 units
  // The sequence ends exactly on unit 67, then straddles it by one unit, then starts on unit 67.
  add(`${label} ends at 67`, cjkText(67 - size) + seq + cjkText(20));
  add(`${label} straddles 67`, cjkText(68 - size) + seq + cjkText(20));
  add(`${label} straddles 67, 134 units`, cjkText(68 - size) + seq + cjkText(66));
  add(`${label} after 66`, cjkText(66) + seq + cjkText(20));
  add(`${label} alone`, seq);
  // Every other place the boundary can cut a sequence of several units, in a text of exactly two
  // full parts: a counter that cuts it (or keeps together what the calculator parts) is one off.
  for (let cut = 2; cut < size; cut++) {
    add(`${label} cut after unit ${cut} of ${size}, 134 units`,
        cjkText(67 - cut) + seq + cjkText(134 - (67 - cut) - size));
  }
}
add("family straddles 70", cjkText(65) + "👨‍👩‍👧‍👦");
add("flags only, 17", rep("🇮🇹", 17) + "🇫");
add("flags only, 18", rep("🇮🇹", 18));
add("three regional indicators", "🇮🇹🇨");
add("skin tones only", rep("👍🏽", 20));
add("families only", rep("👨‍👩‍👧‍👦", 13));
add("keycaps only", rep("1️⃣", 30));
add("combining accents only", rep("e\u0301", 40));
add("family at start of a long text", "👨‍👩‍👧‍👦" + cjkText(200));
add("zero-width joiner alone", "\u200d");
add("letter, ZWJ, heart", "a\u200d❤" + cjkText(3));
add("one grapheme longer than a part", "a" + rep("\u0301", 80));
add("one grapheme longer than a part, then text", cjkText(10) + "a" + rep("\u0301", 80) + cjkText(10));
add("combining marks at 67", cjkText(65) + "a\u0301\u0301\u0301" + cjkText(5));

// --- scripts ----------------------------------------------------------------------------------------
const SCRIPTS = {
  "Chinese": "【提醒】普拉托市中心今天下午有游行，请避开火车站一带，注意人身和财产安全。如需帮助请回复2。",
  "Traditional Chinese": "【提醒】普拉托市中心今天下午有遊行，請避開火車站一帶，注意人身和財產安全。",
  "Japanese": "プラート中心部で本日午後にデモがあります。駅周辺を避けてください。",
  "Korean": "오늘 오후 프라토 시내에서 시위가 있습니다. 기차역 주변을 피하십시오.",
  "Arabic": "تجنبوا منطقة المحطة بعد الظهر. ابقوا في منازلكم واتبعوا تعليمات الشرطة المحلية.",
  "Arabic with harakat": "مَرْحَبًا، اِبْقَوْا فِي مَنَازِلِكُمْ وَاتَّبِعُوا تَعْلِيمَاتِ الشُّرْطَةِ.",
  "Hebrew": "הישארו בבית והתרחקו מהחלונות. שָׁלוֹם.",
  "Persian": "لطفاً در خانه بمانید و از پنجره‌ها دور شوید.",
  "Hindi": "कृपया घर के अंदर रहें और खिड़कियों से दूर रहें। स्थानीय पुलिस के निर्देशों का पालन करें।",
  "Bengali": "অনুগ্রহ করে ঘরের ভিতরে থাকুন এবং জানালা থেকে দূরে থাকুন।",
  "Tamil": "தயவுசெய்து வீட்டிற்குள் இருங்கள், ஜன்னல்களிலிருந்து விலகி இருங்கள்.",
  "Thai": "กรุณาอยู่ในบ้านและอยู่ห่างจากหน้าต่าง ปฏิบัติตามคำแนะนำของตำรวจท้องถิ่น",
  "Russian": "Оставайтесь дома и держитесь подальше от окон. СТОП",
  "Ukrainian": "Залишайтеся вдома, тримайтеся подалі від вікон.",
  "Greek": "Μείνετε σε εσωτερικό χώρο και μακριά από τα παράθυρα.",
  "Vietnamese": "Hãy ở trong nhà và tránh xa cửa sổ.",
  "Turkish": "Lütfen evde kalın ve pencerelerden uzak durun.",
  "Amharic": "እባክዎ በቤት ውስጥ ይቆዩ።",
  "Mixed RTL and LTR": "Call +39 0574 123456 الآن, or reply 2.",
  "Mixed Chinese and English": "Prato: 请避开 Piazza Mercatale, call 112.",
};
for (const [label, text] of Object.entries(SCRIPTS)) {
  add(`${label}`, text);
  add(`${label}, long`, rep(text + " ", Math.ceil(700 / text.length)).trim());
}
add("Hindi straddling 67", cjkText(65) + "क्षत्रिय" + cjkText(10));
add("Hindi straddling 67, 134 units", cjkText(65) + "क्ष" + cjkText(66));
add("Hindi conjunct ends part one", cjkText(64) + "क्ष" + cjkText(67));
add("Thai straddling 67", cjkText(65) + "น้ำ" + cjkText(66));
add("Arabic straddling 67", cjkText(66) + "مَ" + cjkText(66));
add("Hebrew straddling 67", cjkText(65) + "שָׁ" + cjkText(66));
add("RTL mark", "\u200fمرحبا\u200e ok");

// --- realistic alerts with the frame the system adds ------------------------------------------------
add("English alert with footer",
    "[DRILL] Earthquake near Prato\nAre you safe? Reply 1 if safe, 2 if you need help.\n" +
    "Valid until 12 Mar 14:00 CET. Reply STOP to opt out.");
add("Italian alert with footer",
    "Terremoto vicino a Prato\nState bene? Rispondete 1 se al sicuro, 2 se vi serve aiuto.\n" +
    "Valido fino al 12 mar, 14:00. Rispondete STOP per non ricevere più messaggi.");
add("Chinese alert with footer",
    "【演练】普拉托附近发生地震\n您是否安全？安全请回复1，需要帮助请回复2。\n有效期至3月12日14:00。回复STOP退订。");
add("alert with a euro fee", "Visa office fees rose to 35 € [from 1 May]. Reply HELP for {details}.");

module.exports = bodies;
