"""Everything that turns an alert into messages on people's phones, and their answers into records.

Read it in this order:

- ``models``: every alerts table (alerts with their texts and areas, one delivery per recipient,
  inbound texts, the console outbox, the send-rate bucket, worker heartbeats).
- ``authoring/``: the compose form, the input checks (``validation``), the operations that move an
  alert from draft to approval (``operations``), recurring schedules, the cost before approval
  (``compose``, ``estimate``), CAP export and feeds, the coordinators' pages (``views``,
  ``progress``).
- ``targeting``: who receives an alert, in SQL, and the fan-out into deliveries.
- ``dispatch/``: a worker's send loop: claim, case notices to staff, texts, pacing within the rate
  shared by all workers, recording the outcomes (its ``__init__`` describes one round).
- ``channels/sms/``: what an SMS is (encoding and segments as Twilio counts them) and the system's own
  SMS texts in every supported language.
- ``gateways/``: transport only: the protocol, Twilio, the console outbox, a fake Twilio.
- ``hazards/``: the hazard watch: feeds the worker polls, the events read from them, their exposure
  and the draft alerts made for them.
- ``replies/``: what people text back (keywords, safety-check answers) and the provider's webhooks.
- ``enrolment/``: the public self-enrolment pages: one-time codes (``codes``), the registration
  a proved number makes, changes or ends (``operations``, through ``consular.registry.self_service``),
  the pages (``views``) and what it holds about a registrant (``subject_data``).
- ``scheduler`` and ``jobs``: the worker process and the scans it runs; ``workers``: its admin page.
- ``app``: how the alerts side joins the Flask app; ``ops_hooks``: what it adds to ``consular.ops``
  (``consular`` never imports ``alerts`` outside ``create_app`` and the command line);
  ``subject_data``: what it holds about a registrant; ``demo``: the demo alerts.

Each package's ``__init__`` is only its map: no code, so that importing one module never loads its
siblings.
"""
