"""What every part of MIA uses: infrastructure packages, then one package per subject.

Infrastructure (imports no subject): `config` (settings and keys), `crypto`
(field encryption, key rotation), `db`, `storage`, `audit`, `logging`,
`media_types`, and the small modules `clock`, `ids`, `numbers`,
`private_files`, `client_address`, `outages`, `context`.
Subjects (import infrastructure and, sparingly, another subject):
`encounters`, `staff`, `reporting`, `notifications`, `governance`.
Nothing here imports the entry points (`patient_upload`, `processors`,
`portal_ui`, `pages`) or `tests`.
"""
