"""Password hashing (scrypt), verification and the password policy."""

from __future__ import annotations

import base64

import pytest

from downwind.security.passwords import (
    MIN_PASSWORD_LENGTH,
    generate_password,
    hash_password,
    password_problem,
    verify_password,
)


def test_the_hash_is_self_describing_and_never_the_password() -> None:
    encoded = hash_password("correct horse")
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert "correct horse" not in encoded


def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    encoded = hash_password("correct horse")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert not verify_password("", encoded)


def test_each_hash_has_its_own_salt() -> None:
    first, second = hash_password("same password"), hash_password("same password")
    assert first != second
    assert verify_password("same password", first) and verify_password("same password", second)


def test_non_ascii_passwords_work() -> None:
    encoded = hash_password("pässwörd-日本語")
    assert verify_password("pässwörd-日本語", encoded)
    assert not verify_password("passwörd-日本語", encoded)


def test_a_hash_with_other_parameters_verifies_with_its_own() -> None:
    # A hash written with cheaper parameters (or, later, stronger ones) stays valid.
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old password", salt=salt, n=2**10, r=4, p=2, dklen=24)
    encoded = (
        f"scrypt$1024$4$2${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )
    assert verify_password("old password", encoded)
    assert not verify_password("new password", encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "not a hash",
        "bcrypt$16384$8$1$c2FsdA==$aGFzaA==",
        "scrypt$16384$8$1$c2FsdA==",
        "scrypt$16384$8$1$c2FsdA==$aGFzaA==$extra",
        "scrypt$abc$8$1$c2FsdA==$aGFzaA==",
        "scrypt$1000$8$1$c2FsdA==$aGFzaA==",  # n not a power of two
        "scrypt$16384$0$1$c2FsdA==$aGFzaA==",
        "scrypt$16384$8$1$not base64!$aGFzaA==",
        "scrypt$16384$8$1$c2FsdA==$",
        "scrypt$1048576$64$1$c2FsdA==$aGFzaA==",  # would need 8 GiB
    ],
)
def test_a_malformed_hash_is_false_never_an_exception(encoded: str) -> None:
    assert verify_password("whatever1", encoded) is False


def test_a_hash_that_is_not_text_is_false() -> None:
    assert verify_password("whatever1", None) is False  # type: ignore[arg-type]


def test_generated_passwords_are_random_and_acceptable() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == 16
        assert password_problem(password) is None


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "the password is too short: it must have at least 8 characters, it has 0"),
        ("1234567", "the password is too short: it must have at least 8 characters, it has 7"),
        ("x" * 1025, "the password is too long: it may have at most 1024 characters"),
        ("abcdefg\ud800", "the password holds a character that is not valid Unicode text"),
        (None, "a password must be text, got NoneType"),
    ],
)
def test_the_password_policy_explains_a_refusal(password: object, problem: str) -> None:
    assert password_problem(password) == problem


def test_the_password_policy_accepts_eight_characters() -> None:
    assert password_problem("x" * MIN_PASSWORD_LENGTH) is None
