"""Ed25519 signatures on access lists and door commands: the hub signs, the edge checks
(PROTOCOL.md, Access list and Commands).

Only the hub's key can make a door open: a broker account, a stolen Pi or anyone else who can
publish on `telecentre/{site}/access` cannot forge a list, because the edge applies only a
list whose signature holds for one of the hub keys in its config. What is signed is
`wire.signed_bytes(list)`: the list's canonical JSON without its `sig`.

>>> key = SigningKey.generate()
>>> payload = key.sign_access_list(access)            # bytes to publish, with key_id and sig
>>> trusted = TrustedKeys.from_texts([key.public_text])
>>> trusted.check(json.loads(payload))                # raises wire.ProtocolError if forged
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from telecentre import wire


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for a public key, the same on both sides: the first 8 bytes of the SHA-256
    of its 32 raw bytes, in hex. It only picks the key to try; the signature is the proof."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_text(public: Ed25519PublicKey) -> str:
    """The public key as written in an edge's config: its 32 raw bytes in base64."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key as `telecentre-hub keys public` prints it; ValueError says why not."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{text!r} is not base64 (an Ed25519 public key)") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, {text!r} is {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


class SigningKey:
    """The hub's private key, kept in one file (PEM, PKCS #8) readable by its owner only."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)
        self.public_text = public_text(self.public)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Raises OSError if the file cannot be read, ValueError if it holds no Ed25519 key
        or if every user of the machine may read it (0640, for a group, is allowed)."""
        mode = path.stat().st_mode & 0o777
        if mode & 0o007:
            raise ValueError(
                f"{path} is open to every user of this machine (mode {mode:o}): "
                f"`chmod 600 {path}`, and make a new key if others may have copied it"
            )
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path} holds a key that is not Ed25519")
        return cls(private)

    def save(self, path: Path) -> None:
        """Create `path` with mode 0600 (its directory 0700 if it is new); never overwrite:
        replacing the key would lock out every door that trusts only the old one."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """The key in `path`, made there first if there is none (the hub's first start)."""
        if not path.exists():
            key = cls.generate()
            try:
                key.save(path)
            except FileExistsError:
                pass  # another process made it meanwhile: use that one
            else:
                return key
        return cls.load(path)

    def sign(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """`data` (an access list or a command, as JSON) with this key's `key_id` and `sig`."""
        unsigned = {k: v for k, v in data.items() if k != "sig"} | {"key_id": self.key_id}
        signature = self._private.sign(wire.signed_bytes(unsigned))
        return unsigned | {"sig": base64.b64encode(signature).decode("ascii")}

    def sign_access_list(
        self, access: wire.AccessList | Mapping[str, Any], badges_json: bytes | None = None
    ) -> bytes:
        """The payload to publish: `access` signed, as compact JSON. `badges_json`, the
        `wire.canonical_json` of the list's badges, spares writing them again for each site
        when every site's list holds the same badges (`hub.doors.access_lists.Holders`)."""
        if not isinstance(access, wire.AccessList):
            return wire.encode(self.sign(access))
        head = access.model_dump(mode="json", exclude_none=True, exclude={"badges", "sig"})
        head["key_id"] = self.key_id
        if min(head) < "badges":  # an extra field of a later version, written before them
            return wire.encode(self.sign(access.model_dump(mode="json", exclude_none=True)))
        if badges_json is None:
            badges_json = wire.canonical_json(
                [entry.model_dump(mode="json", exclude_none=True) for entry in access.badges]
            )
        # `badges` sorts before every other field, so the canonical JSON of the whole list is
        # the badges' written first, then the rest's: exactly `wire.signed_bytes` of the list.
        signed = b'{"badges":' + badges_json + b"," + wire.canonical_json(head)[1:]
        signature = base64.b64encode(self._private.sign(signed))
        return signed[:-1] + b',"sig":"' + signature + b'"}'

    def sign_command(self, command: Mapping[str, Any]) -> bytes:
        """A door command (`wire.unlock_command`) signed, as compact JSON: the same key as
        the lists', so a door obeys the hub's commands exactly when it obeys its lists."""
        return wire.encode(self.sign(command))


@dataclass(frozen=True)
class TrustedKeys:
    """The hub keys an edge accepts lists from, by key id (two while a key is replaced)."""

    keys: Mapping[str, Ed25519PublicKey]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> TrustedKeys:
        keys = [parse_public_key(text) for text in texts]
        return cls({key_id(key): key for key in keys})

    def check(self, data: Mapping[str, Any], what: str = "list") -> str:
        """The id of the key whose signature holds on `data` (a `what`: list, command);
        `wire.ProtocolError` otherwise."""
        signature, name = data.get("sig"), data.get("key_id")
        if signature is None:
            raise wire.ProtocolError(f"field 'sig': the {what} is not signed")
        if not isinstance(signature, str) or not isinstance(name, str):
            raise wire.ProtocolError("fields 'sig' and 'key_id' must be strings")
        public = self.keys.get(name)
        if public is None:
            trusted = ", ".join(sorted(self.keys)) or "none"
            raise wire.ProtocolError(
                f"field 'key_id': signed by key {name[:32]!r}, which this edge does not trust "
                f"(trusted: {trusted})"
            )
        try:
            public.verify(base64.b64decode(signature, validate=True), wire.signed_bytes(data))
        except (InvalidSignature, binascii.Error, ValueError):
            raise wire.ProtocolError(
                f"field 'sig': the signature does not hold for key {name!r}"
            ) from None
        return name
