"""The encounters subject's domain errors: plain exceptions whose message is written for people.

Services raise them; the portal (`portal_ui.feedback`) and the upload
service choose how to show them. The patient side may add its own
subclasses of `EncounterError` here.
"""

from __future__ import annotations


class EncounterError(Exception):
    """An action is not possible in the encounter's current state (message is for people)."""


class ReviewError(EncounterError):
    """A review action (mark reviewed, delete) is not possible (message is for people)."""
