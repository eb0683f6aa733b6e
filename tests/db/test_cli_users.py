"""``downwind users ...`` on a migrated metastore, through ``main([...])``."""

from __future__ import annotations

import getpass
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from metastore_dags import NOW, in_configured_metastore, migrate_configured_metastore

from downwind.cli.main import main
from downwind.metastore.engine import dispose_engines
from downwind.services.audit import list_audit_log
from downwind.services.users import authenticate, get_user


@pytest.fixture
def home(downwind_home: Path) -> Iterator[Path]:
    migrate_configured_metastore()
    yield downwind_home
    dispose_engines()


class _Stdin(io.StringIO):
    """Standard input that is (or is not) a terminal."""

    def __init__(self, text: str = "", *, tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default stdin is empty and not a terminal, as in CI."""
    monkeypatch.setattr(sys, "stdin", _Stdin())


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _signs_in(username: str, password: str) -> bool:
    return in_configured_metastore(authenticate, username, password, now=NOW) is not None


def test_create_list_set_role_and_delete(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "users", "list") == (0, "No users.\n", "")
    assert _run(
        capsys, "users", "create", "--username", "ada", "--role", "op", "--password", "s3cret-pw"
    ) == (0, "Created user 'ada' with role Op.\n", "")
    assert _signs_in("ada", "s3cret-pw")
    _run(capsys, "users", "create", "-u", "bob", "-r", "Viewer", "-p", "another-pw")

    status, out, _ = _run(capsys, "users", "list")
    assert status == 0
    header, _, *rows = out.splitlines()
    assert header.split() == ["username", "role", "active", "created", "last_login"]
    assert [row.split()[:3] + row.split()[4:] for row in rows] == [
        ["ada", "Op", "yes", "2026-03-01T12:00:00+00:00"],  # signed in above
        ["bob", "Viewer", "yes", "-"],
    ]
    status, out, _ = _run(capsys, "users", "list", "--output", "json")
    records = json.loads(out)
    assert [(r["username"], r["role"], r["is_active"]) for r in records] == [
        ("ada", "Op", True),
        ("bob", "Viewer", True),
    ]
    assert set(records[0]) == {"username", "role", "is_active", "created_at", "last_login"}
    assert "scrypt" not in out and "s3cret-pw" not in out, "never the hash or the password"

    assert _run(capsys, "users", "set-role", "-u", "bob", "-r", "USER") == (
        0,
        "User 'bob' now has role User.\n",
        "",
    )
    assert _run(capsys, "users", "delete", "-u", "bob", "--yes") == (
        0,
        "Deleted user 'bob'.\n",
        "",
    )
    status, out, _ = _run(capsys, "users", "list", "-o", "json")
    assert [r["username"] for r in json.loads(out)] == ["ada"]


def test_changes_are_audited_as_the_os_user(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "users", "create", "-u", "ada", "-r", "Op", "-p", "s3cret-pw")
    (row,) = in_configured_metastore(list_audit_log, event="user.create")
    assert row.owner == getpass.getuser()
    assert row.extra == {"username": "ada", "role": "Op"}


def test_the_password_from_stdin(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin("from stdin pw\nnext line\n"))
    assert _run(capsys, "users", "create", "-u", "ada", "-r", "User", "--password-stdin")[0] == 0
    assert _signs_in("ada", "from stdin pw")


def test_the_password_asked_twice_on_a_terminal(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(tty=True))
    answers = iter(["typed password", "typed password", "new password", "a typo"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert _run(capsys, "users", "create", "-u", "ada", "-r", "User")[0] == 0
    assert _signs_in("ada", "typed password")
    status, _, err = _run(capsys, "users", "reset-password", "-u", "ada")
    assert (status, err) == (1, "error: the two passwords differ; nothing was changed\n")
    assert _signs_in("ada", "typed password")


def test_reset_password(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "users", "create", "-u", "ada", "-r", "User", "-p", "first-password")
    assert _run(capsys, "users", "reset-password", "-u", "ada", "-p", "second-password") == (
        0,
        "Changed the password of user 'ada'.\n",
        "",
    )
    assert not _signs_in("ada", "first-password")
    assert _signs_in("ada", "second-password")


def test_delete_asks_on_a_terminal(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, "users", "create", "-u", "ada", "-r", "User", "-p", "password1")
    monkeypatch.setattr(sys, "stdin", _Stdin("n\n", tty=True))
    assert _run(capsys, "users", "delete", "-u", "ada") == (
        1,
        "Delete user 'ada'? [y/N] Nothing was deleted.\n",
        "",
    )
    monkeypatch.setattr(sys, "stdin", _Stdin("y\n", tty=True))
    assert _run(capsys, "users", "delete", "-u", "ada") == (
        0,
        "Delete user 'ada'? [y/N] Deleted user 'ada'.\n",
        "",
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["users", "create", "-u", "ada", "-r", "Op", "-p", "other-password"],
            "error: user 'ada' already exists",
        ),
        (
            ["users", "create", "-u", "bob", "-r", "root", "-p", "password1"],
            "error: unknown role 'root': the roles are Admin, Op, User, Viewer",
        ),
        (
            ["users", "create", "-u", "bob", "-r", "Op", "-p", "short"],
            "error: the password is too short: it must have at least 8 characters, it has 5",
        ),
        (
            ["users", "create", "-u", "bob smith", "-r", "Op", "-p", "password1"],
            "error: invalid username 'bob smith': it must be 1 to 250 characters without spaces",
        ),
        (
            ["users", "create", "-u", "bob", "-r", "Op"],
            "error: no password given and stdin is not a terminal to ask for it: pass "
            "--password or --password-stdin",
        ),
        (
            ["users", "create", "-u", "bob", "-r", "Op", "--password-stdin"],
            "error: --password-stdin: stdin is empty, expected the password",
        ),
        (
            ["users", "delete", "-u", "ada"],
            "error: refusing to delete user 'ada' without confirmation: stdin is not a "
            "terminal; pass --yes to delete it",
        ),
        (["users", "delete", "-u", "ghost", "--yes"], "error: user 'ghost' does not exist"),
        (["users", "delete", "-u", "ghost"], "error: user 'ghost' does not exist"),
        (
            ["users", "reset-password", "-u", "ghost", "-p", "password1"],
            "error: user 'ghost' does not exist",
        ),
        (
            ["users", "reset-password", "-u", "ada", "-p", "short"],
            "error: the password is too short: it must have at least 8 characters, it has 5",
        ),
        (["users", "set-role", "-u", "ghost", "-r", "Op"], "error: user 'ghost' does not exist"),
        (
            ["users", "set-role", "-u", "ada", "-r", "boss"],
            "error: unknown role 'boss': the roles are Admin, Op, User, Viewer",
        ),
    ],
)
def test_bad_input_is_one_error_line_and_changes_nothing(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    _run(capsys, "users", "create", "-u", "ada", "-r", "User", "-p", "ada-password")
    status, out, err = _run(capsys, *argv)
    assert (status, out, err) == (1, "", error + "\n")
    ada = in_configured_metastore(get_user, "ada")
    assert ada.role == "User"
    assert _signs_in("ada", "ada-password")
    assert [row.extra["username"] for row in in_configured_metastore(list_audit_log)] == ["ada"]


def test_password_and_password_stdin_exclude_each_other(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(
        capsys, "users", "create", "-u", "a", "-r", "Op", "-p", "password1", "--password-stdin"
    )
    assert status == 2 and "not allowed with argument" in err
