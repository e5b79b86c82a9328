"""Reading SMS replies: opt-out, opt-in, HELP and safety-check answers in many languages and
scripts, including what people really type (punctuation, full-width digits, emoji, free text)."""

from __future__ import annotations

import pytest

from alerts.replies.keywords import (
    HELP_KEYWORDS,
    START_KEYWORDS,
    STOP_KEYWORDS,
    TWILIO_HELP_KEYWORDS,
    TWILIO_OPT_IN_KEYWORDS,
    TWILIO_OPT_OUT_KEYWORDS,
    Reply,
    ReplyKind,
    normalise,
    parse_reply,
)

STOP, START, HELP = ReplyKind.stop, ReplyKind.start, ReplyKind.help
SAFE, NEED, UNKNOWN = ReplyKind.safe, ReplyKind.need_help, ReplyKind.unknown


def kind(body: str) -> ReplyKind:
    return parse_reply(body).kind


@pytest.mark.parametrize("body", [
    "STOP", "stop", "Stop", "STOP.", " stop! ", "ＳＴＯＰ", "Stop 🙏", "STOPALL", "unsubscribe", "CANCEL",
    "End", "quit", "REVOKE", "OptOut", "Stop sending me this", "stop, thanks", "STOP ALL",
    "退订", "TD", "td", "退订。", "退订谢谢", "取消订阅", "退訂", "取消訂閱", "停止",
    "ARRÊT", "arret", "Arrêt", "BAJA", "alto", "STOPP", "Stopp bitte", "PARAR", "СТОП", "стоп",
    "Отписаться", "配信停止", "配信停止してください", "중지", "수신거부", "توقف", "إيقاف", "ANNULLA",
])
def test_stop(body: str) -> None:
    assert kind(body) is STOP, parse_reply(body)


@pytest.mark.parametrize("body", [
    "START", "start", "Start.", "YES", "yes", "Yes!", "UNSTOP", "开始", "開始", "订阅", "訂閱",
    "ALTA", "СТАРТ", "再開", "시작", "ابدأ",
])
def test_start(body: str) -> None:
    assert kind(body) is START, parse_reply(body)


@pytest.mark.parametrize("body", [
    "HELP", "help", "Help?", "HELP!", "INFO", "帮助", "幫助", "AIUTO", "Aiuto!", "AIDE", "AYUDA",
    "HILFE", "AJUDA", "ПОМОЩЬ", "ヘルプ", "도움말", "مساعدة", "ｈｅｌｐ",
])
def test_help_keyword_is_the_whole_message(body: str) -> None:
    assert kind(body) is HELP, parse_reply(body)


@pytest.mark.parametrize("body", [
    "1", "１", "1.", "1!", "(1)", "1️⃣", " 1 ", "١", "1 我很安全", "1，我很安全", "1 I'm safe", "1 - all good",
    "安全", "平安", "我很安全", "我们都平安，谢谢", "一切平安", "没事", "沒事", "我們都平安",
    "safe", "Safe.", "SAFE", "I'm safe", "I’m safe", "i am safe", "im safe", "We are safe, thank you",
    "yes I'm safe", "ok", "OK thanks", "sicuro", "Sicura!", "salvo", "Sono al sicuro", "sto bene",
    "en sécurité", "EN SECURITE", "Je suis en sécurité", "tout va bien", "a salvo", "Estoy a salvo",
    "sicher", "Ich bin in Sicherheit", "seguro", "Estou segura", "в безопасности", "Я в безопасности!",
    "всё хорошо", "無事", "無事です", "大丈夫です", "안전", "안전합니다", "괜찮아요", "آمن", "أنا بخير",
    "انا بامان", "بأمان",
])
def test_safe(body: str) -> None:
    assert kind(body) is SAFE, parse_reply(body)


@pytest.mark.parametrize("body", [
    "2", "２", "2.", "2!", "２！", "2 需要帮助", "2 help", "2 we are trapped", "2️⃣", "٢",
    "求助", "救命", "救命！！", "需要帮助", "需要幫助", "不安全", "我们被困在酒店", "帮帮我们",
    "help me", "HELP ME!", "I need help", "need help", "Please help", "SOS", "sos!!", "not safe",
    "We are in danger", "help please", "aiuto, sono ferito", "Ho bisogno di aiuto", "aiutatemi",
    "non sono al sicuro", "au secours", "à l'aide", "j'ai besoin d'aide", "Aidez-moi",
    "necesito ayuda", "socorro", "ayúdenme", "Ich brauche Hilfe", "Notfall", "preciso de ajuda",
    "me ajudem", "помогите", "Нужна помощь", "助けて", "たすけて！", "도와주세요", "살려주세요",
    "안전하지 않아요", "ساعدوني", "أحتاج مساعدة", "لست بأمان",
])
def test_need_help(body: str) -> None:
    assert kind(body) is NEED, parse_reply(body)


@pytest.mark.parametrize("body", [
    "", "   ", "😀", "👍", "?", "...", "thanks", "谢谢", "Who is this?", "10", "12", "1st", "1.5", "1,2",
    "21", "3", "alto riesgo aquí", "end of the street", "cancel the meeting", "quit smoking",
    "I am safe, help my brother", "我很安全，但是护照丢了", "safe but my friend is missing",
    "1 but my friend is missing", "sicher nicht", "ok, but no water", "安全，但是朋友失联了",
    "merci pour votre aide, tout va bien", "Thanks for your help, we are safe",
    "回复TD", "is it safe?", "saftey", "safety first",
])
def test_unknown(body: str) -> None:
    assert kind(body) is UNKNOWN, parse_reply(body)


def test_yes_is_opt_in_never_a_safety_answer() -> None:
    # Twilio treats YES as an opt-in keyword; reading it as "safe" would close nobody's case but
    # would hide that the person answered something else.
    assert parse_reply("YES") == Reply(START, "yes", "en")
    assert kind("Yes") is not SAFE


def test_bare_help_word_is_the_keyword_but_a_sentence_with_it_asks_for_help() -> None:
    assert kind("AIUTO") is HELP and kind("aiuto!!!") is HELP
    assert kind("aiuto ci sono spari") is NEED
    assert kind("HELP") is HELP and kind("help, fire in the building") is NEED
    assert kind("帮助") is HELP and kind("需要帮助") is NEED


def test_stop_as_first_word_but_a_call_for_help_wins() -> None:
    assert kind("stop sending me this") is STOP
    assert kind("Stop, I need help") is NEED
    assert kind("ALTO") is STOP and kind("alto riesgo aqui") is UNKNOWN  # "alto" is also "high"


def test_matched_keyword_and_locale_guess() -> None:
    assert parse_reply("退订") == Reply(STOP, "退订", "zh_Hans")
    assert parse_reply("退訂") == Reply(STOP, "退訂", "zh_Hant")
    assert parse_reply("Arrêt") == Reply(STOP, "arret", "fr")
    assert parse_reply("１") == Reply(SAFE, "1", None)
    assert parse_reply("1 我很安全") == Reply(SAFE, "1", "zh_Hans")
    assert parse_reply("2 需要帮助") == Reply(NEED, "需要帮助", "zh_Hans")
    assert parse_reply("2 Нужна помощь").locale == "ru"
    assert parse_reply("Sono al sicuro") == Reply(SAFE, "sono al sicuro", "it")
    assert parse_reply("آمن").locale == "ar"
    assert parse_reply("안전합니다").locale == "ko"
    assert parse_reply("無事です").locale == "ja"
    assert parse_reply("ПОМОЩЬ") == Reply(HELP, "помощь", "ru")
    assert parse_reply("これは何ですか") == Reply(UNKNOWN, None, "ja")
    assert parse_reply("") == Reply(UNKNOWN, None, None)


def test_reply_is_frozen_and_kinds_match_the_delivery_reply_kinds() -> None:
    from alerts.models import ReplyKind as DeliveryReplyKind

    reply = parse_reply("1")
    with pytest.raises(AttributeError):
        reply.kind = NEED  # type: ignore[misc]
    for value in ("safe", "need_help", "unknown"):
        assert DeliveryReplyKind(ReplyKind(value).value) == value


def test_normalisation() -> None:
    assert normalise("  ＳＴＯＰ！ ") == "stop"
    assert normalise("１２３") == "123"
    assert normalise("ARRÊT") == "arret"
    assert normalise("Ça va") == "ca va"
    assert normalise("I’m   SAFE 🙂") == "i'm safe"
    assert normalise("أنا آمِن") == "انا امن"
    assert normalise("Всё") == "все"
    assert normalise("1\u20e3") == "1"
    assert normalise("\u200bstop\u200b") == "stop"
    assert normalise("💥🔥") == ""


def test_twilio_keyword_lists_are_kept_and_all_recognised() -> None:
    assert TWILIO_OPT_OUT_KEYWORDS == (
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT")
    assert TWILIO_OPT_IN_KEYWORDS == ("START", "YES", "UNSTOP")
    assert TWILIO_HELP_KEYWORDS == ("HELP", "INFO")
    assert set(TWILIO_OPT_OUT_KEYWORDS) <= set(STOP_KEYWORDS)
    assert set(TWILIO_OPT_IN_KEYWORDS) <= set(START_KEYWORDS)
    assert set(TWILIO_HELP_KEYWORDS) <= set(HELP_KEYWORDS)


def test_every_exported_keyword_parses_as_its_kind_in_any_case() -> None:
    for words, expected in ((STOP_KEYWORDS, STOP), (START_KEYWORDS, START), (HELP_KEYWORDS, HELP)):
        for word in words:
            for variant in (word, word.lower(), f" {word}. ", f"{word}!"):
                assert kind(variant) is expected, (variant, parse_reply(variant))


def test_keyword_lists_do_not_overlap() -> None:
    normalised = [{normalise(w) for w in ws} for ws in (STOP_KEYWORDS, START_KEYWORDS, HELP_KEYWORDS)]
    assert not normalised[0] & normalised[1]
    assert not normalised[0] & normalised[2]
    assert not normalised[1] & normalised[2]


def test_every_supported_language_has_stop_and_help_words() -> None:
    from alerts.channels.sms.texts import SMS_LOCALES
    from alerts.replies.keywords import _HELP_WORDS, _STOP_WORDS

    for locale in SMS_LOCALES:
        if locale in {"it", "fr", "es", "de", "pt"}:
            continue  # Latin-script languages also use STOP itself (named in their footers)
        assert locale in _STOP_WORDS or locale == "en", locale
    assert set(SMS_LOCALES) <= set(_HELP_WORDS)
