"""Encryption at rest for what notify must keep secret: phone numbers, message texts
(they carry the ticket's status link) and webhook secrets.

``NOTIFY_SECRET_KEY`` is a Fernet key (``python -c "from cryptography.fernet import
Fernet; print(Fernet.generate_key().decode())"``). Without it, a random key is made
at start-up with a warning: what was stored before a restart can then no longer be
read, which for phone numbers kept one day is an inconvenience, not a leak.
"""

import logging

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)


class Vault:
    def __init__(self, key=None):
        if not key:
            log.warning("NOTIFY_SECRET_KEY is not set: using a key that dies with this process")
            key = Fernet.generate_key()
        try:
            self.fernet = Fernet(key if isinstance(key, bytes) else key.encode())
        except (ValueError, TypeError):
            raise ValueError(
                "NOTIFY_SECRET_KEY is not a Fernet key; make one with: python -c \"from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\""
            ) from None

    def seal(self, text):
        return self.fernet.encrypt(text.encode()).decode()

    def open(self, token):
        try:
            return self.fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("cannot decrypt: the key changed since this was stored") from None
