"""Slow salted hashes (scrypt) of passwords and API key secrets.

A stored hash is ``scrypt$<n>$<r>$<p>$<salt>$<digest>`` (salt and digest in base64url),
so a hash made with other parameters still checks.
"""

import hashlib
import hmac
import secrets

from services.kernel.base64url import decode, encode

SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def hash_secret(text):
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(text.encode(), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${encode(salt)}${encode(digest)}"


def check_secret(text, stored):
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(text.encode(), salt=decode(salt), dklen=32, n=int(n), r=int(r),
                                  p=int(p))
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(computed, decode(digest))
