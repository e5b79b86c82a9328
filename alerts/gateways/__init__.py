"""SMS gateways: transport only, never a case or a registration.

- ``protocol``: the contract the dispatcher sends through (``SmsGateway``, ``OutboundSms``,
  ``SendResult`` and its ``Outcome``) and the helpers every gateway shares.
- ``twilio_errors``: what each Twilio error code means (retry, give up, mark the number).
- ``factory``: the gateway ``SMS_GATEWAY`` names.
- ``twilio``: Twilio through the official client; ``console``: the outbox of the embedded default,
  shown on /dev/sms (``views``); ``fake``: a fake Twilio server for drills, tests and benchmarks.
- ``loop``: an event loop in a thread of its own, for the pooled async client and the fake.
"""
