"""Records: filing what a clinician reviewed to the patient record, outside MIA.

Owns: the document a filing sends (`document`: the encounter, its patient,
consent, reviewer and items, decrypted, read from the database by
`gather`), the filing outbox and its states (`filings`: queued, sending,
sent, acknowledged, failed), the runner that claims due filings and retries
with backoff (`runner`), and one filer per destination: DICOM to a PACS over
DICOMweb STOW-RS (`dicom`; its instances in `dicom_instances`, the
STOW-RS exchange in `stow`, the JPEG and H.264 header readers in
`jpeg_frames` and `h264`), a FHIR R4 transaction Bundle of DocumentReferences
(`fhir`) and IHE ITI-41 Provide and Register Document Set-b (`xds`).

May import: infrastructure (`shared.config`, `crypto`, `db`, `storage`,
`audit`, `logging`, `context` and the small modules) and three other
subjects: `shared.encounters`, whose rows it reads, `shared.staff` (the
reviewer's name, the team's filing rules and organisation name) and
`shared.notifications` for the request's reference only (`alerts.request_reference`,
the one way a request is named without patient details). Never the portal,
the upload service or processors; nothing in those subjects imports it.
"""
