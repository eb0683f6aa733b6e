"""The Fernet cipher of ``[core] fernet_key``: encryption, rotation, bad keys, the generated key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from downwind.config import load_config
from downwind.exceptions import ConfigError
from downwind.security.fernet import (
    FernetCipher,
    SecretDecryptionError,
    generate_fernet_key,
    get_fernet,
    reset_fernet_cache,
)

ENV = "DOWNWIND__CORE__FERNET_KEY"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    reset_fernet_cache()
    yield
    reset_fernet_cache()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def _cipher(home: Path, keys: str) -> FernetCipher:
    return get_fernet(load_config(home, {ENV: keys}))


def test_a_secret_round_trips_and_is_not_readable_in_its_token(home: Path) -> None:
    cipher = _cipher(home, generate_fernet_key())
    token = cipher.encrypt("s3cret pässword")
    assert "s3cret" not in token and token.isascii()
    assert cipher.decrypt(token) == "s3cret pässword"
    assert cipher.encrypt("s3cret pässword") != token  # a fresh IV each time
    assert cipher.decrypt(cipher.encrypt("")) == ""


def test_the_cipher_is_made_once_per_process(home: Path) -> None:
    conf = load_config(home, {ENV: generate_fernet_key()})
    assert get_fernet(conf) is get_fernet(conf)


def test_rotation_the_first_key_encrypts_every_key_decrypts(home: Path) -> None:
    old, new = generate_fernet_key(), generate_fernet_key()
    with_old = _cipher(home, old)
    old_token = with_old.encrypt("hunter2")

    both = _cipher(home, f"{new}, {old}")  # spaces around the comma are fine
    assert both.key_count == 2
    assert both.decrypt(old_token) == "hunter2"
    new_token = both.encrypt("hunter2")
    with_new = _cipher(home, new)
    assert with_new.decrypt(new_token) == "hunter2"
    with pytest.raises(SecretDecryptionError):
        with_old.decrypt(new_token)

    rotated = both.rotate(old_token)
    assert with_new.decrypt(rotated) == "hunter2"


def test_a_token_of_another_key_is_a_clear_error(home: Path) -> None:
    token = _cipher(home, generate_fernet_key()).encrypt("hunter2")
    with pytest.raises(SecretDecryptionError, match=r"\[core\] fernet_key") as info:
        _cipher(home, generate_fernet_key()).decrypt(token)
    assert "rotated" in str(info.value)
    with pytest.raises(SecretDecryptionError):
        _cipher(home, generate_fernet_key()).decrypt("not a token")


@pytest.mark.parametrize(
    ("value", "which"),
    [
        ("not-a-fernet-key", "the key is"),
        ("c2hvcnQ=", "the key is"),  # valid base64, but 5 bytes
        (f"{generate_fernet_key()},oops-secret-ish", "key 2 of 2 is"),
    ],
)
def test_a_malformed_key_names_the_option_and_where_it_came_from(
    home: Path, value: str, which: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _cipher(home, value)
    message = str(info.value)
    assert message.startswith(f"[core] fernet_key: {which} not a Fernet key")
    assert "32 url-safe base64-encoded bytes" in message
    assert message.endswith(f"(from env {ENV})")
    assert value.split(",")[-1] not in message  # the value itself is never shown


def test_a_malformed_key_in_downwind_toml_names_the_file(home: Path) -> None:
    path = home / "downwind.toml"
    path.write_text('[core]\nfernet_key = "nope"\n')
    with pytest.raises(ConfigError, match=rf"not a Fernet key .*\(from {path}\)$"):
        get_fernet(load_config(home, {}))


def test_an_empty_key_is_generated_and_written_to_downwind_toml_mode_0600(home: Path) -> None:
    conf = load_config(home, {})
    assert conf.core.fernet_key == ""
    token = get_fernet(conf).encrypt("hunter2")

    path = home / "downwind.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = tomllib.loads(path.read_text())["core"]["fernet_key"]
    FernetCipher([written])  # a valid key
    # the next process of this home reads the key from the file...
    reset_fernet_cache()
    again = load_config(home, {})
    assert again.core.fernet_key == written
    assert again.source("core", "fernet_key") == str(path)
    assert get_fernet(again).decrypt(token) == "hunter2"
    # ...and so does one that loaded its configuration before the file was written
    reset_fernet_cache()
    assert get_fernet(conf).decrypt(token) == "hunter2"
    assert tomllib.loads(path.read_text())["core"]["fernet_key"] == written


@pytest.mark.parametrize(
    "text",
    [
        "[core]\nexecutor = 'sequential'  # for debugging\n\n[logging]\ncolored_console = false\n",
        '[core]\nfernet_key = ""\nparallelism = 4\n',
        "# my settings\n[logging]\ncolored_console = false",
        "",
    ],
    ids=["core-table", "empty-key", "no-core-table", "empty-file"],
)
def test_the_generated_key_keeps_the_rest_of_downwind_toml(home: Path, text: str) -> None:
    path = home / "downwind.toml"
    path.write_text(text)
    before = load_config(home, {})
    get_fernet(before).encrypt("x")

    after = load_config(home, {})
    assert after.core.fernet_key
    for item in before:
        if item.key != "fernet_key":
            assert after.get(item.section, item.key) == item.value, item.key
    assert path.read_text().startswith(text.partition("\n")[0])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_home_where_the_key_cannot_be_written_is_a_clear_error(home: Path) -> None:
    conf = load_config(home, {})
    home.rmdir()
    home.write_text("a file where the home should be")
    with pytest.raises(ConfigError) as info:
        get_fernet(conf)
    assert str(info.value).startswith(
        f"[core] fernet_key is empty and a generated key cannot be written to "
        f"{home / 'downwind.toml'} ("
    )
    assert "DOWNWIND__CORE__FERNET_KEY" in str(info.value)


_WRITER = """
import sys, time
from pathlib import Path
from downwind.config import get_config
from downwind.security.fernet import get_fernet

conf = get_config()
signals = Path(sys.argv[1])
(signals / f"ready-{sys.argv[2]}").touch()
while not (signals / "go").exists():  # all start together: the race is real
    time.sleep(0.001)
print(get_fernet(conf).encrypt("same key?"))
"""


def test_processes_starting_together_agree_on_one_generated_key(home: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOWNWIND__")}
    env["DOWNWIND_HOME"] = str(home)
    signals = tmp_path / "signals"
    signals.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(signals), str(n)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    deadline = time.monotonic() + 60
    while len(list(signals.glob("ready-*"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.01)
    (signals / "go").touch()
    tokens = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    key = load_config(home, {}).core.fernet_key
    cipher = FernetCipher([key])
    assert [cipher.decrypt(token) for token in tokens] == ["same key?"] * len(procs)


def test_config_list_masks_the_key(home: Path) -> None:
    key = generate_fernet_key()
    (item,) = [i for i in load_config(home, {ENV: key}) if i.key == "fernet_key"]
    assert item.secret
    assert item.display() == "***"
    assert item.display(masked=False) == key


def test_the_cipher_never_shows_its_keys(home: Path) -> None:
    key = generate_fernet_key()
    assert key not in repr(_cipher(home, key))
