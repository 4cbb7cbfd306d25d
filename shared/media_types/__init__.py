"""A file's real type from its first bytes (`sniff`), against the allowlist of photo and video formats.

Used by the upload service (to refuse before storing) and the processors
(to choose the decoder). Infrastructure: imports only `shared.db.statuses`.
"""
