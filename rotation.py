"""Re-encrypt stored keys under the primary encryption key, in small idempotent batches."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from sqlalchemy import func, select, update

from cipher import InvalidToken
from models import ApiKey

if TYPE_CHECKING:
    from vault import KeyVault

log = logging.getLogger(__name__)


def rotate_rows(vault: "KeyVault", *, batch: int = 200,
                progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Rotate rows whose key_id is not the primary's; each row is a compare-and-swap update.

    A row saved concurrently (new ciphertext) is left alone: it is already under the primary key.
    Interrupting loses nothing: every committed row is complete, and a re-run skips them.
    """
    primary = vault.cipher.primary_id
    counts = {"total": 0, "rotated": 0, "already_current": 0, "failed": 0, "changed_concurrently": 0}
    with vault.session() as sess:
        counts["total"] = sess.scalar(select(func.count()).select_from(ApiKey)) or 0
        counts["already_current"] = sess.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.key_id == primary)) or 0
    last_id = 0
    while True:
        with vault.session() as sess:
            rows = sess.execute(select(ApiKey.id, ApiKey.ciphertext)
                                .where(ApiKey.key_id != primary, ApiKey.id > last_id)
                                .order_by(ApiKey.id).limit(batch)).all()
        if not rows:
            break
        last_id = rows[-1].id
        _rotate_batch(vault, rows, counts)
        if progress:
            progress(len(rows))
    return counts


def _rotate_batch(vault: "KeyVault", rows, counts: dict[str, int]) -> None:
    primary = vault.cipher.primary_id
    with vault.session() as sess:
        for row_id, token in rows:
            try:
                plain = vault.cipher.decrypt(token)
                new_token = vault.cipher.rotate(token)
            except (InvalidToken, ValueError):
                counts["failed"] += 1
                log.error("key row id=%s does not decrypt with any configured key; left as is", row_id)
                continue
            result = sess.execute(
                update(ApiKey).where(ApiKey.id == row_id, ApiKey.ciphertext == token)
                .values(ciphertext=new_token, key_id=primary,
                        fingerprint=vault.cipher.fingerprint(plain)))
            key = "rotated" if result.rowcount == 1 else "changed_concurrently"
            counts[key] += 1
