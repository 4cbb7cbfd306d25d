"""Notifications: messages to patients and clinicians, and their delivery.

Owns: the outbox (`outbox`): patient invites and reminders by text, email or
in-clinic hand-over, clinicians' alerts and "files received" notices, read
back decrypted; every message's words (`messages`); the providers that carry
them, GOV.UK Notify and SMTP (`channels/`); the dispatcher that claims due
messages under a lease and records what became of each (`deliveries`,
`dispatcher`; run by `manage.py deliver-notifications`); reminders to
patients who have not sent (`reminders`); clinician alerts (`alerts`);
GOV.UK Notify's delivery receipts, by callback or by asking (`receipts`).

May import: infrastructure (`shared.config`, `crypto`, `db`, `clock`, `ids`,
`context`, `logging`, `audit`) and one other subject, `shared.staff`, for a
team's organisation name and mailbox (`shared.staff.teams`). Never
encounters (it imports this package, to queue messages in its own
transactions); it reads the encounter columns it needs itself.
"""
