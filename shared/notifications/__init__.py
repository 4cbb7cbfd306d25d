"""Notifications: messages to patients and clinicians, queued in the `notifications` outbox.

Owns: the outbox (`outbox`): patient invites by SMS, email or in-clinic
hand-over, clinicians' "files received" notices, reading them back
decrypted; reminders to patients who have not sent (`reminders`); clinician
alerts by email (`alerts`); GOV.UK Notify's delivery receipts, by callback
or by asking (`receipts`).

May import: infrastructure (`shared.crypto`, `db`, `clock`, `ids`,
`context`, `logging`, `audit`) and one other subject, `shared.staff`, for a
team's organisation name and mailbox (`staff.teams`). Never encounters:
subjects import it, so it reads the encounter columns it needs itself.
"""
