"""Flask CLI: `keys rotate`, `keys import-atom`, `tokens create|revoke|list`, `db-upgrade`."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

import storage
from audit import Actor

CLI_ACTOR = Actor("cli")


def _services():
    return current_app.extensions["byok"]


keys_group = AppGroup("keys", help="Manage stored provider keys.")
tokens_group = AppGroup("tokens", help="Manage gateway bearer tokens.")


@keys_group.command("rotate")
@click.option("--batch", default=200, show_default=True, help="Rows per transaction.")
def rotate_command(batch: int) -> None:
    """Re-encrypt every stored key with the primary key (idempotent; safe to interrupt)."""
    vault = _services().vault
    with vault.session() as sess:
        from sqlalchemy import func, select

        from models import ApiKey
        pending = sess.scalar(select(func.count()).select_from(ApiKey)
                              .where(ApiKey.key_id != vault.cipher.primary_id)) or 0
    with click.progressbar(length=pending, label="Re-encrypting keys", file=None) as bar:
        counts = vault.rotate(batch=batch, progress=bar.update, actor=CLI_ACTOR)
    click.echo(" ".join(f"{name}={value}" for name, value in counts.items()))
    if counts["failed"]:
        raise SystemExit(f"{counts['failed']} row(s) do not decrypt with any configured key")


@keys_group.command("import-atom")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "fernet_key", required=True, envvar="ATOM_IMPORT_FERNET_KEY",
              help="The original ATOM_OAUTH_ENCRYPTION_KEY (or set ATOM_IMPORT_FERNET_KEY).")
@click.option("--overwrite", is_flag=True, help="Replace keys that already exist here.")
def import_atom_command(path: str, fernet_key: str, overwrite: bool) -> None:
    """Import an original ATOM SQLite database (user_api_keys table)."""
    import atom_import
    counts = atom_import.import_database(_services().vault, path, fernet_key,
                                         overwrite=overwrite, actor=CLI_ACTOR)
    click.echo(" ".join(f"{name}={value}" for name, value in counts.items()))


@keys_group.command("revalidate")
@click.option("--older-than", default=0.0, show_default=True, help="Only keys tested longer ago (s).")
@click.option("--limit", default=100, show_default=True, help="At most this many keys.")
def revalidate_command(older_than: float, limit: int) -> None:
    """Re-test stored keys on the providers' free check endpoints."""
    from health import revalidate_once
    count = revalidate_once(_services().vault, older_than_s=older_than, limit=limit)
    click.echo(f"re-tested {count} key(s)")


@tokens_group.command("create")
@click.argument("user_id")
@click.option("--admin", is_flag=True, help="The token may act for any user.")
@click.option("--label", default="", help="A note shown by `tokens list`.")
def create_token_command(user_id: str, admin: bool, label: str) -> None:
    """Create a token; the raw token is printed once, as the last line."""
    from key_manager import validate_user_id
    raw, info = _services().tokens.create(validate_user_id(user_id), admin=admin, label=label,
                                          actor=CLI_ACTOR)
    click.echo(f"created token {info['prefix']}... for user {user_id} (admin={admin}); "
               "it is shown once:", err=False)
    click.echo(raw)


@tokens_group.command("revoke")
@click.argument("prefix")
def revoke_token_command(prefix: str) -> None:
    """Revoke tokens by the prefix shown in `tokens list`."""
    result = _services().tokens.revoke(prefix.rstrip("."), actor=CLI_ACTOR)
    click.echo(f"revoked {result['revoked']} token(s) with prefix {result['prefix']}")


@tokens_group.command("list")
def list_tokens_command() -> None:
    """List tokens (prefix, user, admin, dates); never the secret."""
    for row in _services().tokens.list():
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(f"{row['prefix']}...  user={row['user_id']}  admin={row['is_admin']}  "
                   f"created={row['created_at']}  {state}  {row['label']}")


@click.command("db-upgrade")
@with_appcontext
def db_upgrade_command() -> None:
    """Apply pending database migrations."""
    storage.upgrade(_services().vault.engine)
    click.echo("database is at the latest schema")


def register(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    app.cli.add_command(keys_group)
    app.cli.add_command(tokens_group)
    app.cli.add_command(db_upgrade_command)
