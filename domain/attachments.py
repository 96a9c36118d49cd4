"""Which files a dossier may carry, told by their first bytes (the client's declared type and
file name are never trusted): scanned papers and forms as PDF, JPEG, PNG or TIFF."""

# (leading bytes, content type)
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
ALLOWED = sorted({content_type for _, content_type in _SIGNATURES})


def detect_content_type(head: bytes) -> str | None:
    """The type of a file beginning with `head`, or None when it is not one we accept."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    return None
