"""The consent questions and safeguarding notice patients see (DESIGN.md), with their version.

Change the wording → change CONSENT_TEXT_VERSION: every stored answer names
the version of the text the patient actually read.
"""

from __future__ import annotations

from dataclasses import dataclass

CONSENT_TEXT_VERSION = "2026-11-v1"


@dataclass(frozen=True)
class ConsentQuestion:
    field: str  # column of the `consents` table
    number: int
    question: str
    explanation: str
    required: bool


QUESTIONS = (
    ConsentQuestion(
        field="share_with_care_team",
        number=1,
        question="Do you agree to share these photos and videos with your care team for your diagnosis and treatment?",
        explanation="Only the clinicians looking after you will see them.",
        required=True,
    ),
    ConsentQuestion(
        field="keep_in_record",
        number=2,
        question="Do you agree that they can be kept in your health record?",
        explanation="Like any other test result, they become part of your medical record.",
        required=True,
    ),
    ConsentQuestion(
        field="use_for_teaching",
        number=3,
        question=(
            "Do you agree that they can be used, with anything that could identify you removed, "
            "to teach and train healthcare staff?"
        ),
        explanation="This is up to you. Saying no does not change your care in any way, and you can change your mind.",
        required=False,
    ),
)

REQUIRED_FIELDS = tuple(q.field for q in QUESTIONS if q.required)

SAFEGUARDING_NOTICE = (
    "Do not send intimate images of yourself or anyone else, and never send images of a child's intimate areas. "
    "If your care team needs to see an intimate area, they will contact you to arrange another way."
)
