"""TLS for serve: a certificate and key pair, checked before a port is opened.

Some clients only speak `wss://` (the openai npm package's `OpenAIRealtimeWS` forces it), so
serve can terminate TLS itself. Both files are PEM; relative paths resolve against the config's
folder. A bad pair is a clear error at start, never a handshake failure on the first client.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


class TlsConfigError(Exception):
    """The certificate or key is missing, unreadable or not a pair."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def resolve_tls(
    cert: str | Path | None, key: str | Path | None, base_dir: Path | None = None
) -> TlsFiles | None:
    """Both paths, or neither; each readable; the key matching the certificate."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise TlsConfigError("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
    base = base_dir or Path.cwd()
    files = TlsFiles(*(p if (p := Path(v).expanduser()).is_absolute() else base / p for v in (cert, key)))
    for label, path in (("certificate", files.cert), ("key", files.key)):
        if not path.is_file():
            raise TlsConfigError(f"TLS {label} {path} does not exist")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.cert, files.key)
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"cannot use {files.cert} with {files.key}: {exc}") from None
    return files
