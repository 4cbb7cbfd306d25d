"""Encounters: a clinician's request for a patient's photos and videos, from registration to review.

Owns: registering a request and its invite link (`requests`), the live link
shown or sent again (`invites`), which encounters a clinician may see and
the lists, searches and counts of them (`queries`), reviewing what the
patient sent (`review`), the row as a dataclass (`encounter`) and the
domain errors (`errors`); on the patient side, identifiers, consent text,
the patient journey, patient sessions and upload records (`uploads/`).

May import: infrastructure (`shared.config`, `crypto`, `db`, `storage`,
`audit`, `logging`, `media_types`, `context` and the small modules) and one
other subject, `shared.notifications`, to queue invites and alerts in the
same transaction as the change they report. Never the portal, the upload
service or processors.
"""
