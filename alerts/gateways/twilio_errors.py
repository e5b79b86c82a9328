"""What Twilio's error codes mean for a message: send it again later, or never (and whether the
recipient's number is at fault), as ``describe_twilio_error`` reads them.

Twilio error codes (https://www.twilio.com/docs/api/errors): API errors come with an HTTP status;
delivery errors (30xxx) come in status callbacks, without one.
"Mark" is ``recipient_problem``: the registration's number is at fault.

| Code  | Twilio's meaning                                         | Outcome   | Reason              | Mark |
|-------|----------------------------------------------------------|-----------|---------------------|------|
| 20003 | Authentication failed (wrong Account SID or Auth Token)  | permanent | auth                | no   |
| 20005 | Account not active                                       | permanent | account             | no   |
| 20404 | Resource not found (wrong account or message SID)        | permanent | not_found           | no   |
| 20429 | Too many requests (HTTP 429)                             | transient | rate_limited        | no   |
| 20500 | Internal server error                                    | transient | provider_error      | no   |
| 20503 | Service unavailable                                      | transient | provider_error      | no   |
| 21211 | Invalid 'To' phone number                                | permanent | invalid_number      | yes  |
| 21217 | Phone number does not appear to be valid                 | permanent | invalid_number      | yes  |
| 21401 | Invalid phone number                                     | permanent | invalid_number      | yes  |
| 21407 | This phone number type does not support SMS              | permanent | not_mobile          | yes  |
| 21408 | Permission to send an SMS not enabled for the region     | permanent | region_not_enabled  | yes  |
| 21421 | Phone number is invalid                                  | permanent | invalid_number      | yes  |
| 21602 | Message body is required                                 | permanent | bad_request         | no   |
| 21603 | A 'From' phone number is required                        | permanent | bad_sender          | no   |
| 21604 | A 'To' phone number is required                          | permanent | invalid_number      | yes  |
| 21606 | 'From' is not a message-capable number of the account    | permanent | bad_sender          | no   |
| 21608 | Trial account: the number is unverified                  | permanent | account             | no   |
| 21610 | Attempt to send to an unsubscribed recipient (sent STOP) | permanent | unsubscribed        | yes  |
| 21611 | The sender has too many messages queued                  | transient | queue_overflow      | no   |
| 21612 | The 'To' number is not currently reachable by SMS        | permanent | unreachable         | yes  |
| 21614 | 'To' number is not a valid mobile number                 | permanent | not_mobile          | yes  |
| 21617 | The message body exceeds the 1,600 character limit       | permanent | bad_request         | no   |
| 21624 | Invalid validity period                                  | permanent | bad_request         | no   |
| 21635 | 'To' number cannot be a landline                         | permanent | landline            | yes  |
| 21701 | Messaging Service does not exist or is not valid         | permanent | bad_sender          | no   |
| 30001 | Queue overflow (too many messages queued)                | transient | queue_overflow      | no   |
| 30002 | Account suspended                                        | permanent | account             | no   |
| 30003 | Unreachable handset (switched off, out of coverage)      | transient | handset_unreachable | no   |
| 30004 | Message blocked (by the recipient or the carrier)        | permanent | blocked             | yes  |
| 30005 | Unknown destination handset (the number does not exist)  | permanent | invalid_number      | yes  |
| 30006 | Landline or unreachable carrier                          | permanent | landline            | yes  |
| 30007 | Filtered by the carrier (content)                        | permanent | filtered            | no   |
| 30008 | Unknown error                                            | transient | provider_error      | no   |
| 30010 | Price exceeds the maximum price                          | permanent | account             | no   |
| 30036 | Validity period expired before the message could be sent | permanent | expired             | no   |
| 63003 | WhatsApp: the number is not a WhatsApp user              | permanent | not_on_whatsapp     | no   |
| 63016 | WhatsApp: outside the 24-hour session window             | permanent | whatsapp_window     | no   |

30003 is transient on purpose: a phone that is switched off today is reachable tomorrow, and a
registration must not be marked unreachable for it. Without a known code: HTTP 429 and 5xx are
transient, 401/403 are account problems, any other 4xx is permanent (the same request gets the same
answer); no status and no code (a timeout, a refused or dropped connection) is transient. An unknown
delivery error code (no HTTP status) is permanent without marking the registration, so a message is
never sent twice on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.gateways.protocol import Outcome

__all__ = ["TWILIO_ERRORS", "WHATSAPP_FALLBACK_CODES", "ErrorInfo", "classify_twilio_error",
           "describe_twilio_error"]


@dataclass(frozen=True)
class ErrorInfo:
    outcome: Outcome
    reason: str
    recipient_problem: bool = False


_P = Outcome.permanent
_T = Outcome.transient

TWILIO_ERRORS: dict[int, ErrorInfo] = {
    20003: ErrorInfo(_P, "auth"),
    20005: ErrorInfo(_P, "account"),
    20404: ErrorInfo(_P, "not_found"),
    20429: ErrorInfo(_T, "rate_limited"),
    20500: ErrorInfo(_T, "provider_error"),
    20503: ErrorInfo(_T, "provider_error"),
    21211: ErrorInfo(_P, "invalid_number", True),
    21217: ErrorInfo(_P, "invalid_number", True),
    21401: ErrorInfo(_P, "invalid_number", True),
    21407: ErrorInfo(_P, "not_mobile", True),
    21408: ErrorInfo(_P, "region_not_enabled", True),
    21421: ErrorInfo(_P, "invalid_number", True),
    21602: ErrorInfo(_P, "bad_request"),
    21603: ErrorInfo(_P, "bad_sender"),
    21604: ErrorInfo(_P, "invalid_number", True),
    21606: ErrorInfo(_P, "bad_sender"),
    21608: ErrorInfo(_P, "account"),
    21610: ErrorInfo(_P, "unsubscribed", True),
    21611: ErrorInfo(_T, "queue_overflow"),
    21612: ErrorInfo(_P, "unreachable", True),
    21614: ErrorInfo(_P, "not_mobile", True),
    21617: ErrorInfo(_P, "bad_request"),
    21624: ErrorInfo(_P, "bad_request"),
    21635: ErrorInfo(_P, "landline", True),
    21701: ErrorInfo(_P, "bad_sender"),
    30001: ErrorInfo(_T, "queue_overflow"),
    30002: ErrorInfo(_P, "account"),
    30003: ErrorInfo(_T, "handset_unreachable"),
    30004: ErrorInfo(_P, "blocked", True),
    30005: ErrorInfo(_P, "invalid_number", True),
    30006: ErrorInfo(_P, "landline", True),
    30007: ErrorInfo(_P, "filtered"),
    30008: ErrorInfo(_T, "provider_error"),
    30010: ErrorInfo(_P, "account"),
    30036: ErrorInfo(_P, "expired"),
    63003: ErrorInfo(_P, "not_on_whatsapp"),
    63016: ErrorInfo(_P, "whatsapp_window"),
}
# WhatsApp errors after which the message goes once by SMS instead (``alerts.dispatch.channels``).
WHATSAPP_FALLBACK_CODES = frozenset({63003, 63016})


def describe_twilio_error(http_status: int | None, code: int | None) -> ErrorInfo:
    """Outcome, reason and whether the recipient's number is at fault, for a Twilio error (an API
    answer with ``http_status``, or a status callback's ErrorCode with ``http_status=None``)."""
    if code is not None and code in TWILIO_ERRORS:
        return TWILIO_ERRORS[code]
    if http_status is None:
        if code is None:
            return ErrorInfo(_T, "timeout")  # no answer at all: timeout or connection error
        return ErrorInfo(_P, "delivery_error")
    if http_status == 429:
        return ErrorInfo(_T, "rate_limited")
    if http_status >= 500:
        return ErrorInfo(_T, "provider_error")
    if http_status == 401:
        return ErrorInfo(_P, "auth")
    if http_status == 403:
        return ErrorInfo(_P, "account")
    if http_status == 408:
        return ErrorInfo(_T, "timeout")
    return ErrorInfo(_P, "bad_request")


def classify_twilio_error(http_status: int | None, code: int | None) -> Outcome:
    """permanent or transient, by the table in this module's docstring."""
    return describe_twilio_error(http_status, code).outcome
