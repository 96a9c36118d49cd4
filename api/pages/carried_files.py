"""Files uploaded on one page of the dossier form and carried to the next as hidden inputs:
the file's id, the name shown for it, and the server's signature of the two. Whoever posts
an id by hand learns nothing of a file someone else uploaded: without the signature the
file is shown by its kind and size only."""

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass

from api.context import AppContext
from api.pages.texts import text
from store.models import StoredFile

# Matched whole (`fullmatch`): a `$` would let a trailing line break through.
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The kind of a stored file, as a person calls it.
_FILE_KINDS = {
    "application/pdf": "PDF",
    "image/jpeg": "JPG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
}


@dataclass
class Upload:
    """A component's file, already stored: its id, the name shown for it, and the server's
    signature of the two (so a name carried by the form is the one uploaded with that id)."""

    file_id: uuid.UUID
    name: str
    signature: str


def parse_uuid(value: str) -> uuid.UUID | None:
    """A UUID as this site writes one (lower case, dashed), or None."""
    if not UUID_TEXT.fullmatch(value):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def name_signature(ctx: AppContext, file_id: uuid.UUID, name: str) -> str:
    """The server's word that `name` is what was shown for the file `file_id`."""
    secret = ctx.settings.lookup_key_secret.get_secret_value()
    message = f"file-name:{file_id}:{name}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def uploaded(ctx: AppContext, file_id: uuid.UUID, name: str) -> Upload:
    return Upload(file_id, name, name_signature(ctx, file_id, name))


def carried(ctx: AppContext, stored: StoredFile, name: str, signature: str) -> Upload:
    """A stored file carried by the form: with its name when the server signed it, else
    told by its kind and size ("tệp PDF, 120 KB")."""
    expected = name_signature(ctx, stored.id, name)
    vouched = bool(name) and hmac.compare_digest(signature.encode(), expected.encode())
    return uploaded(ctx, stored.id, name if vouched else _described(stored))


def _described(stored: StoredFile) -> str:
    kind = _FILE_KINDS.get(stored.content_type, stored.content_type)
    kilobytes = max(1, round(stored.size / 1024))
    if kilobytes < 1024:
        size = f"{kilobytes} KB"
    else:
        size = f"{stored.size / 1024 / 1024:.1f} MB".replace(".", ",")
    return text("form.file.described", kind=kind, size=size)
