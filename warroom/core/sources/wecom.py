"""WeCom (企业微信) callbacks, as WeCom documents them ("加解密方案说明", "客户群变更事件").

- msg_signature = sha1 of the sorted concatenation of [token, timestamp, nonce, Encrypt];
- AESKey = base64decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC, IV = AESKey[:16],
  PKCS#7 padding to a multiple of 32 bytes;
- plaintext = 16 random bytes + 4-byte big-endian length + msg + receive id (the
  CorpID, which must be ours).

The callback's XML is read with defusedxml (no DTD, no entities: a billion-laughs or an
external-entity document is refused, not expanded). Pure: no clock, no randomness of
its own (`encrypt` takes its 16 random bytes as an argument).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import Annotated, Any
from xml.etree.ElementTree import Element  # the type only; parsing is defusedxml's

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from pydantic import BaseModel, ConfigDict, Field, field_validator

from warroom.core.ingest.events import MAX_ID_LEN

BLOCK = 32  # WeCom pads to 32 bytes (PKCS#7 with k = 32)
MAX_XML_BYTES = 256 * 1024


class WeComConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    corp_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
    token: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
    encoding_aes_key: Annotated[str, Field(min_length=43, max_length=43)]

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]{43}", v):
            raise ValueError("EncodingAESKey is 43 letters and digits, as WeCom shows it")
        aes_key(v)
        return v


class WeComError(ValueError):
    """The callback is malformed (400)."""


class BadSignature(WeComError):
    """msg_signature does not match (401)."""


def aes_key(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def msg_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def check_signature(
    cfg: WeComConfig, signature: str, timestamp: str, nonce: str, encrypted: str
) -> None:
    expected = msg_signature(cfg.token, timestamp, nonce, encrypted)
    if not hmac.compare_digest(
        expected.encode(), signature.strip().lower().encode("ascii", "replace")
    ):
        raise BadSignature("msg_signature does not match")


def decrypt(cfg: WeComConfig, encrypted: str) -> bytes:
    """The message inside `encrypted` (base64), checked to be for our CorpID."""
    key = aes_key(cfg.encoding_aes_key)
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise WeComError("Encrypt is not base64") from None
    if not data or len(data) % 16:
        raise WeComError("Encrypt is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or pad > len(plain) or plain[-pad:] != bytes([pad]) * pad:
        raise WeComError("bad padding (wrong EncodingAESKey?)")
    plain = plain[:-pad]
    if len(plain) < 20:
        raise WeComError("decrypted message too short")
    (length,) = struct.unpack(">I", plain[16:20])
    if 20 + length > len(plain):
        raise WeComError("decrypted message length out of range (wrong EncodingAESKey?)")
    msg, receive_id = plain[20 : 20 + length], plain[20 + length :]
    if not hmac.compare_digest(receive_id, cfg.corp_id.encode()):
        raise WeComError("the message is for another CorpID")
    return msg


def encrypt(cfg: WeComConfig, msg: bytes, random16: bytes) -> str:
    """What WeCom sends (and what a passive reply would be): for tests and replies."""
    if len(random16) != 16:
        raise ValueError("16 random bytes")
    key = aes_key(cfg.encoding_aes_key)
    plain = random16 + struct.pack(">I", len(msg)) + msg + cfg.corp_id.encode()
    pad = BLOCK - len(plain) % BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


# -- the XML ---------------------------------------------------------------------------------


def parse_xml(body: bytes) -> Element:
    """An XML document from WeCom, refused (WeComError) if it declares a DTD or an
    entity, or is not well-formed."""
    if len(body) > MAX_XML_BYTES:
        raise WeComError(f"XML larger than {MAX_XML_BYTES} bytes")
    try:
        root: Element = fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise WeComError(
            f"XML refused: {type(exc).__name__} (no DTD or entities allowed)"
        ) from None
    except (ParseError, ValueError) as exc:
        raise WeComError(f"XML is not well-formed: {exc}") from None
    return root


def envelope(body: bytes) -> str:
    """The `Encrypt` of an encrypted callback."""
    root = parse_xml(body)
    found = root.find("Encrypt")
    if found is None or not (found.text or "").strip():
        raise WeComError("callback has no Encrypt element")
    return (found.text or "").strip()


def message(plain: bytes) -> dict[str, Any]:
    """The decrypted callback: its top-level elements by name (text), and
    `MemChangeList` as the list of its `Item`s."""
    root = parse_xml(plain)
    out: dict[str, Any] = {}
    for child in root:
        if child.tag == "MemChangeList":
            out["MemChangeList"] = [(i.text or "").strip() for i in child if i.tag == "Item"]
        else:
            out[child.tag] = (child.text or "").strip()
    return out


# -- callbacks into v1 events ----------------------------------------------------------------


def _identity(*parts: str) -> str:
    text = "wecom:" + ":".join(parts)
    if len(text) <= MAX_ID_LEN:
        return text
    return "wecom:" + hashlib.sha256(text.encode()).hexdigest()[:48]


def events_of(msg: dict[str, Any], use_create_time: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """The v1 events a decrypted callback becomes, and notes for the delivery log about
    what it did not become. A member joining or leaving a customer group is a `member`
    event whose identity is built from the callback itself (group, change, time,
    member), so WeCom's re-sent callback is a duplicate. `ts` is the callback's
    CreateTime when `use_create_time` (a real-time campaign), else stamped on arrival."""
    kind = msg.get("Event", "")
    if msg.get("MsgType", "event") != "event" or kind != "change_external_chat":
        return [], [
            f"ignored: {msg.get('MsgType', '?')}/{kind or '?'} is not a customer-group change"
        ]
    chat = msg.get("ChatId", "")
    change = msg.get("ChangeType", "")
    created = msg.get("CreateTime", "")
    if not chat:
        return [], ["ignored: change_external_chat without ChatId"]
    if change in ("create", "dismiss"):
        verb = "created" if change == "create" else "dismissed"
        return [], [f"group {chat} {verb} (WeCom sends no group name; names come with orders)"]
    if change != "update":
        return [], [f"ignored: ChangeType {change or '?'}"]
    detail = msg.get("UpdateDetail", "")
    action = {"add_member": "join", "del_member": "leave"}.get(detail)
    if action is None:
        return [], [f"ignored: group {chat} update {detail or '?'}"]
    members = [m for m in msg.get("MemChangeList", []) if m]
    if not members:
        return [], [f"group {chat} {detail} without MemChangeList (nothing to count)"]
    ts: int | None = None
    if use_create_time and created.isdigit() and len(created) <= 12:
        ts = int(created) * 1000
    events: list[dict[str, Any]] = []
    for member in members:
        event: dict[str, Any] = {
            "type": "member",
            "event_id": _identity(chat, detail, created, member),
            "group_id": chat,
            "member_id": member,
            "action": action,
        }
        if ts is not None:
            event["ts"] = ts
        events.append(event)
    return events, []
