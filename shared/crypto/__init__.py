"""Encryption in the application: patient fields under AES-256-GCM with a blind index (`fields`), and
re-encrypting everything under a new key (`rotation`).

Infrastructure: imports `shared.config` and `shared.db` only.
"""
