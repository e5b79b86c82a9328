"""Self-enrolment: a citizen abroad puts themselves on the register from a public page, proving
their number with a one-time SMS code, and later views, changes or ends that registration."""
