"""Clinical governance: what is removed, when, and on whose word.

Today: `purge` clears what has expired (abandoned uploads, patient sessions,
dead invite and enrollment tokens). Consent tiers, retention and two-person
deletion belong here. A subject: imports infrastructure and, sparingly,
`encounters`.
"""
