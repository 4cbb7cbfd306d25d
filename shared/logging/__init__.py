"""Logs: JSON lines on stdout (`json_lines`), with every secret blanked on its way out (`redaction`).

Infrastructure: imports nothing of MIA.
"""
