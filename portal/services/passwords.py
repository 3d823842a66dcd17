"""Password rules and hashing: at least 12 characters, not a common password, scrypt-hashed."""
import functools
import gzip
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 12
MAX_LENGTH = 200  # scrypt cost grows with input; a cap keeps a huge "password" from being a DoS
# 20,000 common passwords (from Django's list, BSD licence), lower-cased, one per line.
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt.gz"


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as f:
        return frozenset(line.strip().lower() for line in f if line.strip())


def password_problems(password: str, *, email: str | None = None, name: str | None = None) -> list[str]:
    """Why this password is not acceptable (empty list: it is)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower().strip()
    if lowered in common_passwords() or len(set(lowered)) < 4:
        problems.append("That password is too common or easy to guess. Choose another.")
    for personal in (email, (email or "").split("@")[0], name):
        if personal and len(personal) >= 4 and personal.lower() in lowered:
            problems.append("Do not use your name or email address in your password.")
            break
    return problems


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


@functools.cache
def dummy_hash() -> str:
    """Checked against when the email is unknown, so a miss takes as long as a wrong password."""
    return hash_password("not-a-real-password-0f3a9c")
