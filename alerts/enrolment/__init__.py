"""Self-enrolment: a citizen abroad puts themselves on the register from a public page, proving
their number with a one-time SMS code, and later views, changes or ends that registration.

- ``models``: the codes (keyed hashes) and what a self-enrolled registration adds (next of kin,
  channels, the consent text agreed to).
- ``codes``: issuing (throttled), texting, checking and using up a code.
- ``operations``: the checked writes; ``views`` and ``templates/enrol/``: the public pages.
- ``subject_data``: its part of a subject-access export and of an erasure.
"""
