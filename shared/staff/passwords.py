"""Staff passwords: the strength rule people are held to, and bcrypt hashing.

The rule is deliberately simple to explain ("at least 12 characters, not a
common word, name or keyboard pattern with digits added") rather than a
checklist of character classes, in line with NCSC password guidance.
"""

from __future__ import annotations

import re

import bcrypt

MIN_LENGTH = 12
MAX_BYTES = 72  # bcrypt looks at the first 72 bytes only; bcrypt 5 refuses longer input
BCRYPT_ROUNDS = 12
MIN_DISTINCT_CHARACTERS = 5

RULE_TEXT = (
    f"At least {MIN_LENGTH} characters. Not a common word, your name or a keyboard pattern with digits or "
    "symbols added. A few unrelated words make a good password."
)

# Base words that, with digits or symbols added, make up most guessed passwords.
_COMMON_WORDS_TEXT = """
    password passwort passcode letmein welcome qwerty azerty admin administrator login logon monkey dragon
    football baseball cricket rugby iloveyou loveyou sunshine princess master shadow superman batman trustno
    trustnoone hello freedom whatever changeme secret default guest test testing access computer internet
    nhs hospital doctor nurse clinic clinical medical health healthcare patient surgery pharmacy ward
    summer winter spring autumn january february march april may june july august september october
    november december monday tuesday wednesday thursday friday saturday sunday london england britain
    liverpool manchester chelsea arsenal tottenham united mia abc abcd letme open sesame starwars pokemon
"""
COMMON_WORDS = frozenset(_COMMON_WORDS_TEXT.split())

KEYBOARD_RUNS = (
    "qwertyuiopasdfghjklzxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "abcdefghijklmnopqrstuvwxyz",
    "1234567890",
    "01234567890",
)

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})


class PasswordError(ValueError):
    """A password does not meet the rule (message is for people)."""


def _is_keyboard_pattern(text: str, minimum: int = 4) -> bool:
    if len(text) < minimum:
        return False
    return any(text in run or text in run[::-1] for run in KEYBOARD_RUNS)


def _cores(password: str) -> set[str]:
    """Letters left once leading/trailing digits and symbols go, the rest read as letters or dropped.

    'P@ssw0rd2024!' -> {'password', 'psswrd'}; 'Trustno1trustno1' -> {..., 'trustnotrustno'}.
    """
    trimmed = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", password.lower())
    return {re.sub(r"[^a-z]", "", trimmed.translate(_LEET)), re.sub(r"[^a-z]", "", trimmed)}


def _made_of_common_parts(text: str) -> bool:
    """True when `text` splits entirely into common words and keyboard runs."""
    reachable = [True] + [False] * len(text)
    for start in range(len(text)):
        if not reachable[start]:
            continue
        for end in range(start + 3, len(text) + 1):
            piece = text[start:end]
            if piece in COMMON_WORDS or _is_keyboard_pattern(piece):
                reachable[end] = True
    return reachable[-1]


def _is_common(password: str) -> bool:
    lowered = password.lower()
    if not re.search(r"[a-z]", lowered):
        digits = re.sub(r"[^0-9]", "", lowered)
        return len(set(digits)) <= 2 or _is_keyboard_pattern(digits) or _is_keyboard_pattern(digits[:8])
    return any(len(core) < 3 or _made_of_common_parts(core) for core in _cores(password))


def password_problem(password: str, *, username: str, display_name: str) -> str | None:
    """What is wrong with a new password, in a sentence, or None when it is acceptable."""
    if password != password.strip():
        return "The password cannot start or end with a space."
    if len(password) < MIN_LENGTH:
        return f"The password is too short: use at least {MIN_LENGTH} characters."
    if len(password.encode("utf-8")) > MAX_BYTES:
        return f"The password is too long: use at most {MAX_BYTES} bytes (about {MAX_BYTES} letters)."
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return "The password repeats too few different characters."
    lowered = password.lower()
    names = [username.lower(), *(part.lower() for part in re.split(r"[\s.'-]+", display_name) if len(part) >= 3)]
    if any(name and name in lowered for name in names if len(name) >= 3):
        return "The password cannot contain your username or your name."
    if _is_common(password):
        return "That password is too easy to guess: it is a common word or pattern with digits or symbols added."
    return None


def check_new_password(password: str, repeated: str, *, username: str, display_name: str) -> None:
    """Raise PasswordError unless the two entries match and meet the rule."""
    if password != repeated:
        raise PasswordError("The two passwords are not the same.")
    problem = password_problem(password, username=username, display_name=display_name)
    if problem:
        raise PasswordError(problem)


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash in the `$2b$` form streamlit-authenticator checks."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: str | None) -> bool:
    if not hashed or len(password.encode("utf-8")) > MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    except ValueError:
        return False
