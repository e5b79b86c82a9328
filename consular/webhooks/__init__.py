"""Outbound webhooks: events written to a database outbox in the transaction that caused them, sent
by the worker to the URLs admins subscribed, signed with each subscription's secret."""
