"""A fake Twilio for tests, benchmarks and demos (``consular fake-twilio``): the part of Twilio's REST
API that the official client uses to send and list messages, Twilio's error codes and error shape,
latency and errors injected on request, signed status callbacks, and simulated inbound SMS.

It is an asyncio (aiohttp) server: injected latency is a sleep on the event loop, so thousands of
requests can wait at once without a thread each.

Twilio's API, as far as it goes here:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (To, From or MessagingServiceSid, Body,
  StatusCallback, ValidityPeriod), HTTP Basic auth with the account SID and auth token;
  ``201`` with a Message resource, status ``queued`` (``accepted`` through a Messaging Service).
- ``GET .../Messages/{Sid}.json`` and ``GET .../Messages.json`` filtered by To, From, DateSent,
  ``DateSent>`` (on or after), ``DateSent<`` (on or before), newest first, with PageSize, Page and
  PageToken paging and ``next_page_uri`` as Twilio gives them.
- Errors as Twilio answers them: ``{"code", "message", "more_info", "status"}``. 20003 wrong
  credentials (401), 20404 unknown resource, 21604 To missing, 21211 To invalid, 21603 sender
  missing, 21606 From not ours, 21701 bad Messaging Service, 21602 Body missing, 21617 Body too long,
  21624 ValidityPeriod out of 1..36000, 21614 not a mobile number, 21610 the recipient sent STOP,
  21408 region not enabled; 20429/429, 20500/500, 20503/503 when injected.
- WhatsApp: ``To=whatsapp:+…`` with a ``whatsapp:`` sender (63007 otherwise) or a Messaging
  Service; a number in ``not_on_whatsapp`` is accepted, then fails with ErrorCode 63003 (a rule
  per ``whatsapp:`` address forces any other error, such as 63016, at once or as a callback).
- ``POST/GET .../Calls.json`` and ``GET .../Calls/{Sid}.json``: outbound calls (To, From, Url,
  StatusCallback, StatusCallbackEvent) that fetch the application's TwiML, hear its ``<Say>`` and
  press the digits scripted per number (``numbers: {"+39…": {"call": "answer", "digits": "91"}}``,
  or ``"no-answer"``, ``"busy"``, ``"failed"``), with signed call status callbacks (see ``calls``).
- Landline numbers are accepted and then come back ``undelivered`` with ErrorCode 30006, as on Twilio;
  any other code can be forced for a number.

The control API (no auth; bind to loopback): ``POST /_fake/config`` (JSON, see ``FakeConfig``),
``GET /_fake/config``, ``GET /_fake/messages[?to=]``, ``GET /_fake/calls[?to=]``,
``POST /_fake/reset``, ``GET /_fake/stats``, ``POST /_fake/inbound`` (``{"from", "to", "body",
"url"}``: posts a signed inbound-SMS webhook).
Any number of From numbers and Messaging Service SIDs may send (``owned_numbers`` and
``messaging_services`` restrict them); the stats give each sender's messages, segments and the most
segments accepted in any 10-second window (``senders``).

Modules: ``config`` (the settings and how a change is applied), ``state`` (messages, counters and
the statuses a message goes through), ``errors`` (Twilio's error answers), ``handlers`` (the HTTP
API and the control API), ``callbacks`` (the signed webhooks it posts), ``calls`` (the Calls API
and the life of a call), ``server`` (``FakeTwilio``: the server on a thread of its own, and the
``consular fake-twilio`` command).
"""
