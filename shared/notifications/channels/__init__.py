"""The providers that carry messages out of MIA: GOV.UK Notify (`notify`, texts and email) and SMTP (`smtp`).

Each is a `Channel` (`base`): given one message in hand it returns the
provider's id for it, or raises `TemporaryFailure` (try again later) or
`PermanentFailure` (with a reason a clinician can act on). `configured`
builds the ones the settings name. Nothing here touches the database: the
dispatcher records what became of each message.
"""
