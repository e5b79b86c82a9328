"""What people answer: inbound SMS (STOP, START, HELP, safety-check answers) and the provider's
webhooks (inbound messages and delivery reports)."""
