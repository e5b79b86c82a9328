"""Files sealed at rest (case attachments): streamed authenticated encryption with the field keys.

A sealed file is a header and a sequence of chunks, written and read one chunk at a time, so no
file is ever whole in memory and no plaintext byte ever reaches the disk::

    header = MAGIC (8) | version (1) | key id length (1) | key id | salt (16) | nonce prefix (7)
    chunk i = AES-256-GCM(file key, nonce = prefix | i (4, big-endian) | last (1),
                          plaintext[i * CHUNK : (i + 1) * CHUNK],
                          associated data = header | i (4) | last (1))

The file key is derived from the field key named in the header with HKDF-SHA256 over the random
salt and the file's *binding* (an attachment's storage key): a sealed file copied over another
attachment's file does not open, and each file has a key of its own, so nonces never repeat across
files. Every chunk but the last holds exactly ``CHUNK`` bytes of plaintext; the last one is marked in
its nonce and associated data. So chunks cannot be reordered (the counter), dropped (the counter),
and the file cannot be cut at a chunk boundary or extended (the last-chunk flag): each of these
fails authentication with :class:`SealedFileError` instead of giving bytes that were never written.

This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, 2015) as age and Tink's
AES-GCM-HKDF streaming AEAD use it; the byte layout here is our own.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consular.db import DecryptionError, KeyRing

# \x89 cannot start UTF-8 text and differs from PNG's "\x89PNG": no accepted plain file starts so.
MAGIC = b"\x89CSA\r\n\x1a\n"
VERSION = 1
CHUNK = 64 * 1024  # plaintext bytes per chunk
TAG = 16
SALT = 16
NONCE_PREFIX = 7
MAX_CHUNKS = 2**32  # the counter's range (256 TiB at 64 KiB a chunk)


class SealedFileError(DecryptionError):
    """A sealed file cannot be opened: not sealed, unknown key, tampered, truncated or extended."""


def is_sealed(path: Path) -> bool:
    """Whether the file at ``path`` starts like a sealed file (it may still fail to open)."""
    with path.open("rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def _file_key(ring: KeyRing, kid: str, salt: bytes, binding: str) -> AESGCM:
    info = b"\x1f".join((b"consular-attachment", str(VERSION).encode(), binding.encode("utf-8")))
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ring.key(kid))
    return AESGCM(derived)


def _nonce_and_context(header: bytes, prefix: bytes, index: int, last: bool) -> tuple[bytes, bytes]:
    if index >= MAX_CHUNKS:
        raise SealedFileError("file too large for one sealed stream")
    position = struct.pack(">IB", index, 1 if last else 0)
    return prefix + position, header + position


class SealedWriter:
    """Seals what is written to ``out`` (a binary file opened for writing) with the ring's active
    key for ``binding``. Call :meth:`close` (or use ``with``) to write the last chunk; the caller
    closes ``out``."""

    def __init__(self, out: IO[bytes], ring: KeyRing, binding: str) -> None:
        kid = ring.active_kid.encode("utf-8")
        if not 0 < len(kid) < 256:
            raise ValueError("key id must be 1 to 255 bytes")
        salt, self._prefix = os.urandom(SALT), os.urandom(NONCE_PREFIX)
        self._header = MAGIC + bytes((VERSION, len(kid))) + kid + salt + self._prefix
        self._aead = _file_key(ring, ring.active_kid, salt, binding)
        self._out = out
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        out.write(self._header)

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed sealed file")
        self._buffer += data
        # A full chunk is written only once more data follows it: the last one must be marked.
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        nonce, context = _nonce_and_context(self._header, self._prefix, self._index, last)
        self._out.write(self._aead.encrypt(nonce, plaintext, context))
        self._index += 1

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True

    def __enter__(self) -> SealedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed file as a seekable, read-only binary stream (``zipfile`` and the
    content checks read it like the file itself). One chunk is opened at a time; every byte
    returned has been authenticated, with its position and whether its chunk is the last."""

    def __init__(self, path: Path, ring: KeyRing, binding: str) -> None:
        super().__init__()
        self._fh = path.open("rb")
        try:
            self._read_header(ring, binding)
        except BaseException:
            self._fh.close()
            raise
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def _read_header(self, ring: KeyRing, binding: str) -> None:
        fixed = self._fh.read(len(MAGIC) + 2)
        if len(fixed) < len(MAGIC) + 2 or fixed[:len(MAGIC)] != MAGIC:
            raise SealedFileError("the file is not sealed")
        version, kid_length = fixed[len(MAGIC)], fixed[len(MAGIC) + 1]
        if version != VERSION:
            raise SealedFileError(f"unknown sealed file version {version}")
        rest = self._fh.read(kid_length + SALT + NONCE_PREFIX)
        if len(rest) < kid_length + SALT + NONCE_PREFIX:
            raise SealedFileError("the sealed file's header is cut short")
        try:
            self.kid = rest[:kid_length].decode("utf-8")
        except UnicodeDecodeError:
            raise SealedFileError("the sealed file's key id is malformed") from None
        salt = rest[kid_length:kid_length + SALT]
        self._prefix = rest[kid_length + SALT:]
        self._header = fixed + rest
        try:
            self._aead = _file_key(ring, self.kid, salt, binding)
        except DecryptionError as exc:
            raise SealedFileError(str(exc)) from None
        body = os.fstat(self._fh.fileno()).st_size - len(self._header)
        full, rest_bytes = divmod(body, CHUNK + TAG)
        if rest_bytes == 0 and full > 0:
            self._chunks, last_size = full, CHUNK
        elif rest_bytes >= TAG:
            self._chunks, last_size = full + 1, rest_bytes - TAG
        else:
            raise SealedFileError("the sealed file is truncated")
        self.size = (self._chunks - 1) * CHUNK + last_size  # plaintext bytes

    def _chunk(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        self._fh.seek(len(self._header) + index * (CHUNK + TAG))
        sealed = self._fh.read(CHUNK + TAG)
        last = index == self._chunks - 1
        nonce, context = _nonce_and_context(self._header, self._prefix, index, last)
        try:
            plaintext = self._aead.decrypt(nonce, sealed, context)
        except InvalidTag:
            raise SealedFileError(f"chunk {index} of the sealed file failed authentication (the "
                                  "file was altered, cut short, extended or is another file)") from None
        if not last and len(plaintext) != CHUNK:  # pragma: no cover - a full chunk authenticated short
            raise SealedFileError("the sealed file is malformed")
        self._cached = (index, plaintext)
        return plaintext

    def chunks(self) -> Iterator[bytes]:
        """Every chunk's plaintext, in order, from the start."""
        for index in range(self._chunks):
            yield self._chunk(index)

    def verify(self) -> None:
        """Authenticate the whole file (one chunk at a time) without keeping any of it."""
        for _ in self.chunks():
            pass

    # --- io.RawIOBase ---

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._pos >= self.size:
            return 0
        index, offset = divmod(self._pos, CHUNK)
        data = self._chunk(index)[offset:offset + len(buffer)]
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._fh.close()
        self._cached = None
        super().close()


def seal_file(source: IO[bytes], target: Path, ring: KeyRing, binding: str) -> None:
    """Write ``source`` sealed to ``target`` atomically: a partial file beside it, flushed to disk,
    then renamed over ``target`` (a crash leaves the old file or the new one, never half of one)."""
    with _replacing(target, "sealing") as out, SealedWriter(out, ring, binding) as writer:
        while block := source.read(CHUNK):
            writer.write(block)


def reseal_file(path: Path, ring: KeyRing, binding: str) -> bool:
    """Seal the file at ``path`` again with the ring's active key; False when it already is (safe
    to run again after an interruption). A file that does not open raises SealedFileError and is
    left as it was."""
    with SealedReader(path, ring, binding) as reader:
        if reader.kid == ring.active_kid:
            return False
        seal_file(io.BufferedReader(reader, CHUNK), path, ring, binding)
    return True


def seal_plain_file(path: Path, ring: KeyRing, binding: str) -> bool:
    """Seal a file that is still plain; False when it is sealed already."""
    if is_sealed(path):
        return False
    with path.open("rb") as source:
        seal_file(source, path, ring, binding)
    return True


def unseal_file(path: Path, ring: KeyRing, binding: str) -> bool:
    """Turn a sealed file back into its plaintext (only for downgrading below the revision that
    sealed the files); False when it is plain already."""
    if not is_sealed(path):
        return False
    with _replacing(path, "opening") as out, SealedReader(path, ring, binding) as reader:
        for block in reader.chunks():
            out.write(block)
    return True


@contextlib.contextmanager
def _replacing(target: Path, step: str) -> Iterator[IO[bytes]]:
    """A new file for ``target``, written beside it (``.NAME.step``), flushed to disk and renamed
    over ``target`` once the block ends: a crash leaves the old file or the new one, never half of
    one. A partial file left by an interrupted run is started again; one left by an error removed."""
    partial = target.with_name(f".{target.name}.{step}")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the directory entry, not only the file's data)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
