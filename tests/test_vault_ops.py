"""Encryption keys, rotation, ATOM import and the storage rules."""
import base64
import os
import sqlite3
import stat

import pytest
from cryptography.fernet import Fernet

from cipher import EncryptionConfigError, load_cipher

BASE = "/api/user/api-keys"


def _keys(n):
    return {f"user{i}": f"sk-rotate-{i:04d}-ABCDEFGHIJKLMNOP" for i in range(n)}


def test_generated_key_is_persisted_0600_and_reused(tmp_path):
    first = load_cipher("", tmp_path / "d" / "encryption.key")
    path = tmp_path / "d" / "encryption.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = load_cipher("", path)
    assert second.decrypt(first.encrypt("hello")) == "hello"


@pytest.mark.parametrize("spec", ["not-a-key", "your-encryption-key-here", "abc,", "Zm9v"])
def test_malformed_configured_key_stops_startup(make_app, spec):
    with pytest.raises(EncryptionConfigError) as info:
        make_app(encryption_keys=spec)
    assert "not a valid Fernet key" in str(info.value)


def test_multiple_keys_first_encrypts_all_decrypt(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = load_cipher(old, tmp_path / "k").encrypt("secret-value")
    both = load_cipher(f"{new},{old}", tmp_path / "k")
    assert both.decrypt(token) == "secret-value"
    assert Fernet(new.encode()).decrypt(both.encrypt("x").encode()) == b"x"


def test_rotation_reencrypts_every_row(make_app, database_url):
    old = Fernet.generate_key().decode()
    app = make_app(encryption_keys=old)
    vault = app.extensions["byok"].vault
    for user, key in _keys(25).items():
        vault.store(user, "openai", key)
    new = Fernet.generate_key().decode()
    app2 = make_app(encryption_keys=f"{new},{old}")
    result = app2.test_cli_runner().invoke(args=["keys", "rotate", "--batch", "7"])
    assert result.exit_code == 0, result.output
    assert "total=25" in result.output and "rotated=25" in result.output
    again = app2.test_cli_runner().invoke(args=["keys", "rotate"])
    assert "rotated=0" in again.output and "already_current=25" in again.output
    only_new = make_app(encryption_keys=new).extensions["byok"].vault
    for user, key in _keys(25).items():
        assert only_new.reveal(user, "openai").reveal() == key
        assert only_new.record(user, "openai").key_id == only_new.cipher.primary_id


def test_rotation_skips_rows_changed_concurrently(make_app):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    vault = make_app(encryption_keys=old).extensions["byok"].vault
    vault.store("u", "openai", "sk-before-rotation-0123456789")
    vault2 = make_app(encryption_keys=f"{new},{old}").extensions["byok"].vault
    import rotation
    real = rotation._rotate_batch

    def racing(v, rows, counts):
        v.store("u", "openai", "sk-saved-during-rotation-0123")   # a request wins the race
        real(v, rows, counts)

    rotation._rotate_batch = racing
    try:
        counts = vault2.rotate()
    finally:
        rotation._rotate_batch = real
    assert counts["changed_concurrently"] == 1 and counts["rotated"] == 0
    assert vault2.reveal("u", "openai").reveal() == "sk-saved-during-rotation-0123"


def _atom_db(path, fernet_key, rows):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE user_api_keys (user_id TEXT NOT NULL, service_name TEXT NOT NULL, "
                 "encrypted_key TEXT NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, "
                 "updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (user_id, service_name))")
    fernet = Fernet(fernet_key)
    for user, service, key in rows:
        stored = base64.urlsafe_b64encode(fernet.encrypt(key.encode())).decode()
        conn.execute("INSERT INTO user_api_keys (user_id, service_name, encrypted_key) VALUES (?,?,?)",
                     (user, service, stored))
    conn.commit()
    conn.close()


def test_import_atom_database(make_app, tmp_path):
    legacy_key = Fernet.generate_key()
    rows = [("current-user", "openai", "sk-legacy-openai-0123456789"),
            ("current-user", "kimi_k2", "sk-legacy-kimi-0123456789"),
            ("u2", "glm_4_6", "abcdef0123456789abcdef0123456789.SecretPart12345"),
            ("u2", "zoom_speech", "sk-not-in-catalogue-000000")]
    _atom_db(tmp_path / "atom.db", legacy_key, rows)
    stored = sqlite3.connect(tmp_path / "atom.db").execute(
        "SELECT encrypted_key FROM user_api_keys").fetchone()[0]
    assert stored.startswith("Z0FBQUFB")            # the contract's double-base64 signature
    app = make_app()
    result = app.test_cli_runner().invoke(
        args=["keys", "import-atom", str(tmp_path / "atom.db"), "--key", legacy_key.decode()])
    assert result.exit_code == 0, result.output
    assert "imported=3" in result.output and "skipped_unknown_provider=1" in result.output
    assert "sk-legacy" not in result.output
    vault = app.extensions["byok"].vault
    for user, service, key in rows[:3]:
        assert vault.reveal(user, service).reveal() == key
    again = app.test_cli_runner().invoke(
        args=["keys", "import-atom", str(tmp_path / "atom.db"), "--key", legacy_key.decode()])
    assert "skipped_existing=3" in again.output


def test_import_with_wrong_key_counts_failures(make_app, tmp_path):
    _atom_db(tmp_path / "atom.db", Fernet.generate_key(), [("u", "openai", "sk-x-0123456789abcdef")])
    result = make_app().test_cli_runner().invoke(
        args=["keys", "import-atom", str(tmp_path / "atom.db"), "--key", Fernet.generate_key().decode()])
    assert "failed=1" in result.output and "imported=0" in result.output


def test_postgres_url_is_never_a_path(tmp_path, monkeypatch):
    import storage
    url = storage.prepare_url("postgresql://user:hunter2@127.0.0.1:1/db")
    assert url.startswith("postgresql+psycopg://")
    assert not any("hunter2" in p.name for p in tmp_path.rglob("*"))


def test_default_database_is_sqlite_under_data(tmp_path):
    from config import Config
    url = Config.from_env({}).resolved_database_url()
    assert url.startswith("sqlite:///") and url.endswith("data/byok.db")


def test_sqlite_uses_wal(app):
    from sqlalchemy import text
    with app.extensions["byok"].vault.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_migrations_upgrade_keeps_rows(make_app):
    app = make_app()
    vault = app.extensions["byok"].vault
    vault.store("u", "openai", "sk-survives-upgrade-01234567")
    import storage
    storage.upgrade(vault.engine)       # re-running is a no-op that loses nothing
    assert vault.reveal("u", "openai").reveal() == "sk-survives-upgrade-01234567"
    result = app.test_cli_runner().invoke(args=["db-upgrade"])
    assert result.exit_code == 0
