"""Unpadded URL-safe base64, the text form of token parts and of stored hashes."""

import base64


def encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
