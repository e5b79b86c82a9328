"""What a voice call says: the alert in the recipient's language, read by a Twilio voice for that
language (``VOICES``), then the question (1 safe, 2 need help, 9 repeat). Where Twilio has no voice
for the recipient's language, the call speaks the alert's base language (its text and its
question); where it has none for that either, English. The system texts are the SMS catalogs'
(``alerts.channels.sms.texts``), so a call and a text say the same thing in the same words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.authoring import placeholders
from alerts.channels.sms import texts

# An SMS locale → Twilio's <Say> language and voice (Amazon Polly or Google voices on Twilio).
VOICES: dict[str, tuple[str, str]] = {
    "zh_Hans": ("cmn-CN", "Polly.Zhiyu-Neural"),
    "zh_Hant": ("cmn-TW", "Google.cmn-TW-Standard-A"),
    "en": ("en-GB", "Polly.Amy-Neural"),
    "it": ("it-IT", "Polly.Bianca-Neural"),
    "fr": ("fr-FR", "Polly.Lea-Neural"),
    "es": ("es-ES", "Polly.Lucia-Neural"),
    "de": ("de-DE", "Polly.Vicki-Neural"),
    "pt": ("pt-PT", "Polly.Ines-Neural"),
    "ru": ("ru-RU", "Polly.Tatyana"),
    "ja": ("ja-JP", "Polly.Kazuha-Neural"),
    "ko": ("ko-KR", "Polly.Seoyeon-Neural"),
    "ar": ("arb", "Polly.Zeina"),
}
LAST_RESORT = "en"

# Digits of the question, and what each means.
SAFE, NEED_HELP, REPEAT = "1", "2", "9"


@dataclass(frozen=True)
class Script:
    """What one call says, and how."""

    locale: str  # the SMS locale of the words spoken
    language: str  # Twilio's <Say language>
    voice: str  # Twilio's <Say voice>
    message: str  # the alert
    question: str  # 1 / 2 / 9


def voice_locale(wanted: str | None, base_language: str,
                 voices: Mapping[str, tuple[str, str]] = VOICES) -> str:
    """The locale a call speaks: the recipient's when Twilio has a voice for it, else the alert's
    base language, else English."""
    for candidate in (wanted, base_language, LAST_RESORT):
        if candidate and candidate in voices:
            return candidate
    return LAST_RESORT


def question(locale: str) -> str:
    return texts.voice_question(locale)


def script_for(alert: Any, available: Mapping[str, Any], language: str, tz_name: str, *,
               recipient: tuple[str, str, int | None] | None = None,
               voices: Mapping[str, tuple[str, str]] = VOICES) -> Script:
    """The call for one recipient of ``alert`` whose text in their language (as chosen for the
    delivery) is ``available[language]``; ``available`` holds the alert's texts by language."""
    locale = voice_locale(language, alert.base_language, voices)
    text = available.get(locale)
    if text is None:  # a voice for the language, but no text in it: the base language's text
        text = available.get(alert.base_language)
        locale = voice_locale(alert.base_language, alert.base_language, voices)
    message = ""
    if text is not None:
        fields = placeholders.recipient_text(text, alert, locale=locale, tz_name=tz_name,
                                             recipient=recipient)
        message = " ".join(part.strip() for part in (fields["headline"], fields["body"],
                                                     fields["instruction"]) if part.strip())
    language_code, voice = voices.get(locale, VOICES[LAST_RESORT])
    return Script(locale=locale, language=language_code, voice=voice, message=message,
                  question=question(locale) if alert.safety_check else "")
