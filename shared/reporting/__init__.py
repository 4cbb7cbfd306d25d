"""Reporting: figures and logs for managers and administrators, read-only.

Owns: activity figures aggregated in the database (`activity`), storage
figures from CloudWatch or the embedded store (`storage_metrics`), the
managers' usage report in one call (`usage_report`), and the audit log as
administrators browse it (`audit_log`).

May import: infrastructure only (`shared.db`, `storage`, `audit`,
`context`, `config`); it reads the tables of other subjects but imports
none of their modules.
"""
