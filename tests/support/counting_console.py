"""`python -m bot.console`, counting every password check it really makes.

For the lockout race tests: each call of `bot.console.auth.common._verify` appends one
line to the file named by `CONSOLE_TEST_CHECKS` ("real" against an account's
hash, "dummy" against the hash used for unknown or locked accounts). Everything
else is the console as shipped.
"""

from __future__ import annotations

import os
import sys
import threading

from bot.console.__main__ import main
from bot.console.auth import common as auth

_lock = threading.Lock()
_original = auth._verify


def _counting_verify(password_hash: str, password: str) -> bool:
    kind = "dummy" if password_hash == auth._DUMMY_HASH else "real"
    with _lock, open(os.environ["CONSOLE_TEST_CHECKS"], "a") as out:
        out.write(kind + "\n")
    return _original(password_hash, password)


auth._verify = _counting_verify

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
