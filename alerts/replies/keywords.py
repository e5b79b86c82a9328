"""What an SMS reply means: STOP / START / HELP in every supported language, or a safety-check
answer ("1" safe, "2" need help), or something a person has to read.

How a reply is read (in this order, on the normalised text: NFKC, so full-width ``１`` and
``ＳＴＯＰ`` are plain; case-folded; Latin accents, Arabic alef forms and diacritics and the
Russian ``ё`` folded; surrounding punctuation, symbols and emoji removed):

1. **The whole message is a keyword or a known answer**: ``STOP``, ``stop.``, ``退订``, ``HELP``,
   ``AIUTO``, ``1``, ``１``, ``安全``, ``I'm safe`` … → that meaning.
2. **A clear call for help anywhere** ("need help", "help me", ``SOS``, 求助, 救命, "not safe",
   ``помогите`` …) → need_help, whatever else the message says.
3. **A leading ``2``** (``2``, ``2 需要帮助``, ``2!``) → need_help.
4. **A help word inside a longer message** (``help``, ``aiuto``, ``hilfe`` …): need_help, unless
   the message also says the sender is safe ("I am safe, help my brother"): then unknown, so that
   a person reads it (an unknown reply from someone in the area opens a case). A bare ``HELP``
   or ``AIUTO`` is the HELP keyword (rule 1): it answers with the nearest station and the
   mission's emergency phone, which is what a person who only sends that word needs; a person
   in trouble writes more, or ``2``.
5. **STOP as the first word** ("stop sending me this", ``退订谢谢``) → stop. Only unambiguous stop
   words count as a first word; everyday words that are also keywords (``END``, ``QUIT``,
   ``CANCEL``, ``ALTO``, ``BAJA``, ``ARRÊT``) count only as the whole message, so "alto riesgo
   aquí" is not an opt-out. START and HELP count only as the whole message.
6. **Safe**: a leading ``1`` or a "safe" word at the start ("safe, thanks", ``安全，谢谢``) or a
   first-person statement anywhere ("yes I'm safe", ``我们都平安``) → safe, unless the message
   also qualifies it ("but", "not", ``但``, ``でも`` …): then unknown.
7. Everything else → unknown.

**JOIN** (``登记``, ``ISCRIVI``, ``INSCRIPTION``, ``REGISTRO`` … in every SMS language) counts only
as the whole message: it asks for the link to the self-enrolment page.

``YES`` is Twilio's opt-in keyword, so it means start, never "safe": a reply to a safety check
that says only "yes" is read by a person. Twilio's own keyword lists are kept below as one
documented list (``TWILIO_*``); Twilio acts on those itself (it blocks a number after STOP until
START), so every system text that names a keyword uses ``STOP``/``START`` or a word listed here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class ReplyKind(StrEnum):
    stop = "stop"
    start = "start"
    help = "help"
    safe = "safe"  # same values as alerts.models.ReplyKind for the safety answers
    need_help = "need_help"
    enrol = "enrol"  # asks for the link to the self-enrolment page (JOIN)
    unknown = "unknown"


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    keyword: str | None  # the normalised word or phrase that decided, None for unknown
    locale: str | None  # an SMS locale guessed from the words or the script, None if no clue


# --- Twilio's standard keywords (Messaging Services, "Default opt-out handling") -------------
TWILIO_OPT_OUT_KEYWORDS: tuple[str, ...] = (
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
)
TWILIO_OPT_IN_KEYWORDS: tuple[str, ...] = ("START", "YES", "UNSTOP")
TWILIO_HELP_KEYWORDS: tuple[str, ...] = ("HELP", "INFO")

# --- Our words, per language (the whole message) ---------------------------------------------
_STOP_WORDS: dict[str | None, tuple[str, ...]] = {
    "en": TWILIO_OPT_OUT_KEYWORDS,
    "zh_Hans": ("退订", "TD", "取消订阅", "停止", "取消"),
    "zh_Hant": ("退訂", "取消訂閱"),
    "it": ("ANNULLA", "DISISCRIVIMI", "CANCELLAMI"),
    "fr": ("ARRÊT", "ARRET", "DÉSABONNER", "DÉSABONNEMENT"),
    "es": ("ALTO", "BAJA", "CANCELAR"),
    "de": ("STOPP", "ABMELDEN"),
    "pt": ("PARAR", "SAIR"),
    "ru": ("СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА"),
    "ja": ("配信停止", "解除"),
    "ko": ("중지", "수신거부", "그만"),
    "ar": ("توقف", "إيقاف", "إلغاء"),
}
_START_WORDS: dict[str | None, tuple[str, ...]] = {
    "en": TWILIO_OPT_IN_KEYWORDS,
    "zh_Hans": ("开始", "订阅", "重新订阅"),
    "zh_Hant": ("開始", "訂閱", "重新訂閱"),
    "it": ("RIATTIVA",),
    "es": ("ALTA",),
    "ru": ("СТАРТ",),
    "ja": ("再開", "配信再開"),
    "ko": ("시작", "수신동의"),
    "ar": ("ابدأ", "اشتراك"),
}
_HELP_WORDS: dict[str | None, tuple[str, ...]] = {
    "en": TWILIO_HELP_KEYWORDS,
    "zh_Hans": ("帮助",),
    "zh_Hant": ("幫助",),
    "it": ("AIUTO",),
    "fr": ("AIDE",),
    "es": ("AYUDA",),
    "de": ("HILFE",),
    "pt": ("AJUDA",),
    "ru": ("ПОМОЩЬ",),
    "ja": ("ヘルプ",),
    "ko": ("도움말",),
    "ar": ("مساعدة",),
}
# Asking to register (the whole message): answered with the link to the self-enrolment page.
_JOIN_WORDS: dict[str | None, tuple[str, ...]] = {
    "en": ("JOIN", "REGISTER"),
    "zh_Hans": ("登记", "注册", "报名"),
    "zh_Hant": ("登記", "註冊", "報名"),
    "it": ("ISCRIVI", "ISCRIVIMI", "ISCRIZIONE", "REGISTRAMI"),
    "fr": ("INSCRIRE", "INSCRIPTION", "INSCRIS-MOI"),
    "es": ("REGISTRO", "REGISTRARME", "INSCRIBIR", "INSCRIBIRME"),
    "de": ("ANMELDEN", "ANMELDUNG", "REGISTRIEREN"),
    "pt": ("REGISTAR", "REGISTRAR", "INSCREVER"),
    "ru": ("РЕГИСТРАЦИЯ", "ЗАРЕГИСТРИРОВАТЬСЯ"),
    "ja": ("登録",),
    "ko": ("등록", "가입"),
    "ar": ("تسجيل", "اشترك"),
}
# Short "safe" words: the whole message, or its start ("safe, thanks").
_SAFE_WORDS: dict[str | None, tuple[str, ...]] = {
    None: ("1", "ok", "okay"),
    "en": ("safe", "fine", "all good", "all safe", "safe and sound"),
    "zh_Hans": ("安全", "平安", "没事", "无事", "一切平安", "一切安好"),
    "zh_Hant": ("沒事",),
    "it": ("sicuro", "sicura", "salvo", "salva", "al sicuro", "tutto bene", "tutto ok"),
    "fr": ("en sécurité", "ça va", "tout va bien", "sain et sauf", "saine et sauve"),
    "es": ("a salvo", "todo bien"),
    "de": ("sicher", "in Sicherheit", "alles gut", "alles ok"),
    "pt": ("seguro", "segura", "em segurança", "tudo bem"),
    "ru": ("в безопасности", "всё хорошо", "все в порядке", "в порядке"),
    "ja": ("無事", "大丈夫", "無事です", "大丈夫です", "安全です"),
    "ko": ("안전", "안전합니다", "안전해요", "괜찮아요", "괜찮습니다", "무사합니다"),
    "ar": ("آمن", "بأمان", "بخير"),
}
# First-person statements of safety: anywhere in the message ("yes, we are safe").
_SAFE_STATEMENTS: dict[str | None, tuple[str, ...]] = {
    "en": ("I'm safe", "I am safe", "im safe", "we're safe", "we are safe", "I'm ok", "I am ok",
           "I'm fine", "I am fine", "we are fine", "we're fine", "we are ok"),
    "zh_Hans": ("我安全", "我很安全", "我平安", "我们安全", "我们都安全", "我们都平安", "都平安",
                "我没事", "我们没事", "我们都没事"),
    "zh_Hant": ("我們安全", "我們都安全", "我們都平安", "我沒事", "我們沒事", "我們都沒事"),
    "it": ("sono al sicuro", "siamo al sicuro", "sto bene", "stiamo bene"),
    "fr": ("je suis en sécurité", "nous sommes en sécurité", "je vais bien", "nous allons bien"),
    "es": ("estoy a salvo", "estamos a salvo", "estoy bien", "estamos bien"),
    "de": ("ich bin in Sicherheit", "wir sind in Sicherheit", "mir geht es gut", "uns geht es gut"),
    "pt": ("estou seguro", "estou segura", "estamos seguros", "estou bem", "estamos bem"),
    "ru": ("я в безопасности", "мы в безопасности", "я в порядке", "мы в порядке"),
    "ja": ("私は無事", "私は大丈夫", "みんな無事", "全員無事"),
    "ko": ("저는 안전", "우리는 안전", "저는 괜찮"),
    "ar": ("أنا آمن", "أنا بأمان", "أنا بخير", "نحن بخير", "نحن بأمان"),
}
# Clear calls for help: need_help wherever they appear, whatever else is said.
_DISTRESS: dict[str | None, tuple[str, ...]] = {
    None: ("2", "sos"),
    "en": ("help me", "need help", "needs help", "not safe", "unsafe", "in danger", "trapped",
           "please help"),
    "zh_Hans": ("求助", "救命", "需要帮助", "帮帮", "帮我", "救我", "不安全", "不平安", "危险", "被困",
                "需要协助"),
    "zh_Hant": ("需要幫助", "幫幫", "幫我", "危險", "需要協助"),
    "it": ("aiutatemi", "aiutami", "bisogno di aiuto", "soccorso", "pericolo", "non sono al sicuro",
           "non siamo al sicuro"),
    "fr": ("à l'aide", "au secours", "besoin d'aide", "aidez-moi", "aidez moi", "en danger",
           "pas en sécurité"),
    "es": ("auxilio", "socorro", "necesito ayuda", "necesitamos ayuda", "ayúdenme", "ayudenme",
           "ayúdame", "peligro", "no estoy a salvo"),
    "de": ("brauche hilfe", "brauchen hilfe", "notfall", "in Gefahr", "nicht sicher",
           "nicht in Sicherheit"),
    "pt": ("preciso de ajuda", "precisamos de ajuda", "me ajude", "me ajudem", "ajudem", "perigo",
           "não estou seguro", "não estou segura"),
    "ru": ("помогите", "нужна помощь", "спасите", "опасность", "не в безопасности"),
    "ja": ("助けて", "たすけて", "救助", "助けが必要", "危険", "無事ではない", "無事じゃない",
           "安全ではない", "安全じゃない", "大丈夫じゃない"),
    "ko": ("도와주세요", "도와줘", "도움이 필요", "살려주세요", "살려줘", "위험", "구조",
           "안전하지 않"),
    "ar": ("ساعدوني", "ساعدني", "أحتاج مساعدة", "نحتاج مساعدة", "النجدة", "خطر", "لست بأمان",
           "غير آمن", "لست بخير"),
}
# Help words that inside a longer message mean "need help" (rule 4).
_HELP_IN_TEXT: dict[str | None, tuple[str, ...]] = {
    "en": ("help",), "zh_Hans": ("帮助", "救"), "zh_Hant": ("幫助",), "it": ("aiuto",),
    "fr": ("aide",), "es": ("ayuda",), "de": ("hilfe",), "pt": ("ajuda",), "ru": ("помощь",),
    "ja": ("助け", "ヘルプ"), "ko": ("도움",), "ar": ("مساعدة",),
}
# Stop words that also count as the first word of a longer message (rule 5).
_STOP_FIRST_WORDS = ("stop", "stopp", "stopall", "unsubscribe", "optout", "стоп", "отписаться")
_STOP_PREFIXES = ("退订", "退訂", "取消订阅", "取消訂閱", "停止", "配信停止", "수신거부")
# Words that qualify a "safe" (but, not, …): such a reply is read by a person.
_QUALIFIERS = ("but", "not", "no", "except", "ma", "non", "mais", "pas", "pero", "aber", "nicht",
               "kein", "keine", "mas", "não", "но", "не", "нет", "لكن", "لا", "غير", "لست")
_QUALIFIERS_CJK = ("但", "可是", "不过", "不過", "只是", "でも", "しかし", "けど", "하지만", "그런데", "근데")

_DROP = re.compile("[\ufe00-\ufe0f\u20e3\U000e0020-\U000e007f\u064b-\u065f\u0670\u0640]")
_FOLD = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ё": "е", "أ": "ا", "إ": "ا",
                       "آ": "ا", "ٱ": "ا", "ى": "ي"})
_NO_SPACES = re.compile(r"[\u0600-\u06ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _fold_latin(char: str) -> str:
    if "\u00c0" <= char <= "\u024f" or "\u1e00" <= char <= "\u1eff":
        base = unicodedata.normalize("NFD", char)[0]
        return base if base.isascii() else char
    return char


def _edge(char: str) -> bool:
    return unicodedata.category(char)[0] in "PSZC"


def normalise(body: str) -> str:
    """The form replies and keywords are compared in."""
    text = unicodedata.normalize("NFKC", body).casefold()
    text = _DROP.sub("", text).translate(_FOLD)
    text = "".join(
        "" if unicodedata.category(c) == "Cf"
        else str(unicodedata.digit(c)) if unicodedata.category(c) == "Nd" and not c.isascii()
        else _fold_latin(c)
        for c in text
    )
    text = " ".join(text.split())
    start, end = 0, len(text)
    while start < end and _edge(text[start]):
        start += 1
    while end > start and _edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _table(source: dict[str | None, tuple[str, ...]]) -> dict[str, str | None]:
    table: dict[str, str | None] = {}
    for locale, words in source.items():
        for word in words:
            table.setdefault(normalise(word), locale)
    return table


_EXACT: dict[str, tuple[ReplyKind, str | None]] = {}
for _kind, _source in ((ReplyKind.stop, _STOP_WORDS), (ReplyKind.start, _START_WORDS),
                       (ReplyKind.help, _HELP_WORDS), (ReplyKind.enrol, _JOIN_WORDS),
                       (ReplyKind.safe, _SAFE_WORDS),
                       (ReplyKind.safe, _SAFE_STATEMENTS), (ReplyKind.need_help, _DISTRESS)):
    for _word, _locale in _table(_source).items():
        _previous = _EXACT.setdefault(_word, (_kind, _locale))
        assert _previous[0] == _kind, f"{_word!r} is both {_previous[0]} and {_kind}"

_SAFE_PREFIX = _table(_SAFE_WORDS)
# Statements, and the safe words of more than one word ("tout va bien", "一切平安"), anywhere.
_SAFE_ANYWHERE = {**{w: loc for w, loc in _SAFE_PREFIX.items() if " " in w or (_NO_SPACES.search(w)
                                                                               and len(w) >= 4)},
                  **_table(_SAFE_STATEMENTS)}
_DISTRESS_ANYWHERE = {w: loc for w, loc in _table(_DISTRESS).items() if not w.isdigit()}
_HELP_ANYWHERE = _table(_HELP_IN_TEXT)
_QUALIFIER_WORDS = frozenset(normalise(w) for w in _QUALIFIERS)

STOP_KEYWORDS: tuple[str, ...] = tuple(dict.fromkeys(w for ws in _STOP_WORDS.values() for w in ws))
START_KEYWORDS: tuple[str, ...] = tuple(dict.fromkeys(w for ws in _START_WORDS.values() for w in ws))
HELP_KEYWORDS: tuple[str, ...] = tuple(dict.fromkeys(w for ws in _HELP_WORDS.values() for w in ws))
JOIN_KEYWORDS: tuple[str, ...] = tuple(dict.fromkeys(w for ws in _JOIN_WORDS.values() for w in ws))


def _occurs(phrase: str, text: str) -> bool:
    """Whole words for spaced scripts; substrings for Chinese, Japanese, Korean and Arabic."""
    if _NO_SPACES.search(phrase):
        return phrase in text
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _starts_with(phrase: str, text: str) -> bool:
    if not text.startswith(phrase):
        return False
    rest = text[len(phrase):]
    return not rest or not rest[0].isalnum() or bool(_NO_SPACES.match(phrase[-1]))


def _find(table: dict[str, str | None], text: str) -> tuple[str, str | None] | None:
    # Longest phrase first, so "non sono al sicuro" wins over "al sicuro".
    for phrase in sorted(table, key=len, reverse=True):
        if _occurs(phrase, text):
            return phrase, table[phrase]
    return None


def _script_locale(text: str) -> str | None:
    for char in text:
        if "\u3040" <= char <= "\u30ff":
            return "ja"
    for char in text:
        code = ord(char)
        if 0xAC00 <= code <= 0xD7AF:
            return "ko"
        if 0x0600 <= code <= 0x06FF:
            return "ar"
        if 0x0400 <= code <= 0x04FF:
            return "ru"
        if 0x4E00 <= code <= 0x9FFF:
            return "zh_Hans"
    return None


def _guess(text: str) -> str | None:
    for table in (_DISTRESS_ANYWHERE, _SAFE_ANYWHERE, _HELP_ANYWHERE, _SAFE_PREFIX):
        found = _find({w: loc for w, loc in table.items() if loc is not None}, text)
        if found:
            return found[1]
    return _script_locale(text)


def _qualified(text: str) -> bool:
    words = set(re.findall(r"[\w']+", text))
    return bool(words & _QUALIFIER_WORDS) or any(q in text for q in _QUALIFIERS_CJK)


def parse_reply(body: str) -> Reply:
    """What an inbound SMS means (see the module docstring for the rules and why)."""
    text = normalise(body or "")
    if not text:
        return Reply(ReplyKind.unknown, None, None)
    exact = _EXACT.get(text)
    if exact is not None:
        kind, locale = exact
        return Reply(kind, text, locale or _script_locale(text))

    distress = _find(_DISTRESS_ANYWHERE, text)
    if distress is not None:
        return Reply(ReplyKind.need_help, distress[0], distress[1])
    digit = re.match(r"([12])(?![\w.,]*\d)(?![a-z])", text)
    if digit and digit.group(1) == "2":
        return Reply(ReplyKind.need_help, "2", _guess(text))

    safe: str | None = "1" if digit else None
    if safe is None:
        safe = next((w for w in sorted(_SAFE_PREFIX, key=len, reverse=True)
                     if not w.isdigit() and _starts_with(w, text)), None)
    if safe is None:
        found = _find(_SAFE_ANYWHERE, text)
        safe = found[0] if found else None

    helpword = _find(_HELP_ANYWHERE, text)
    if helpword is not None:
        if safe is not None:  # "I am safe, help my brother": a person decides
            return Reply(ReplyKind.unknown, None, _guess(text))
        return Reply(ReplyKind.need_help, helpword[0], helpword[1])

    first = text.split(" ", 1)[0].rstrip(",.;:!?")
    if first in _STOP_FIRST_WORDS or text.startswith(_STOP_PREFIXES):
        word = first if first in _STOP_FIRST_WORDS else next(
            p for p in _STOP_PREFIXES if text.startswith(p))
        return Reply(ReplyKind.stop, word, _EXACT[word][1] if word in _EXACT else _script_locale(text))

    if safe is not None:
        if _qualified(text):
            return Reply(ReplyKind.unknown, None, _guess(text))
        return Reply(ReplyKind.safe, safe, _guess(text))
    return Reply(ReplyKind.unknown, None, _script_locale(text))
