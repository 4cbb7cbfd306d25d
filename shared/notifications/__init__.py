"""Notifications: messages to patients and clinicians, queued in the `notifications` outbox.

Owns: the outbox (`outbox`): patient invites by SMS, email or in-clinic
hand-over, clinicians' "files received" notices, reading them back
decrypted. Delivery adapters (GOV.UK Notify, SMTP) and reminders belong
here when they come.

May import: infrastructure only (`shared.crypto`, `db`, `clock`, `ids`);
no other subject (subjects import it, so it must not import them).
"""
