"""Dispatching: due deliveries (and case notices to staff) become provider calls, exactly once in
effect, at the rate the provider allows, and their outcomes are recorded.

Modules, in the order of a round: ``claim`` (and ``quiet``: quiet hours), ``notices`` (case notices
to staff), ``outgoing`` (texts and reconciliation), ``pacing`` (and ``ratelimit``: the send rate
shared by all workers), ``record``, and ``lanes`` (the loops that run rounds in a worker).

One round of a dispatch loop (``Dispatcher.run_once``):

1. **Claim** a batch in one short transaction (``claim_batch``): due ``pending``/``deferred``
   deliveries of alerts that are ``sending`` and not expired, locked with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (so any number of workers take disjoint batches) and
   under ``BEGIN IMMEDIATE`` on SQLite. In the same transaction: claims whose lease ran out, or
   whose worker's heartbeat has been silent for more than two intervals (it died), go back to
   ``pending`` marked for reconciliation; remaining deliveries of expired alerts are skipped;
   recipients who opted out or whose number is invalid are skipped; recipients inside quiet hours
   in their own zone are ``deferred`` to the end of them (unless the alert is Immediate or
   Extreme); the rest become ``claimed`` with a lease. The claim is committed before any provider
   call.
2. **Render** each text once per (alert, language, zone) with
   ``alerts.channels.sms.texts.render_alert_sms``.
3. **Reconcile** deliveries whose previous attempt has an unknown outcome (``reconcile_from``): the
   provider is asked (``gateway.find_sent``; a gateway that can list what it sent answers a batch
   from a few pages of that list, ``find_sent_many``) and a message it already has is recorded as
   submitted instead of being sent again.
4. **Spread** the batch across the senders by free capacity and **reserve** each share's segments
   from its sender's rate limit, shared by all workers (``alerts.dispatch.ratelimit``), then
   **send** concurrently with ``gateway.send_many``, segment *i* no earlier than its slot. Before
   each group the lease (and the worker's own heartbeat), the expiry and a cancellation are checked
   again; Twilio's validity period is set from the time left before expiry.
5. **Record** every outcome in one short transaction: accepted → ``submitted`` with the provider's
   id; permanent → ``failed`` (and the registration marked invalid or opted out when the number is
   at fault); transient → ``pending`` again after a backoff with full jitter (at least the
   provider's Retry-After), until the alert expires (then ``skipped``/``expired``).

An alert is ``sent`` once none of its deliveries is ``pending``, ``deferred`` or ``claimed``: a
message the provider accepted (``submitted``) counts as gone; its delivery report keeps arriving
through status callbacks afterwards.

Case notices (``Notification`` rows in ``sms_state=pending``: escalations, hand-offs to a station)
go through the same claim-send-record path, the same gateway and the same rate limit, without
quiet hours (they are for staff on duty).
"""
