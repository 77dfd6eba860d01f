"""The ACL table names what every served API needs (handlers/authz.py), so a new handler cannot forget it."""

from __future__ import annotations

from kafkasim.handlers import HANDLERS
from kafkasim.handlers.authz import ACLS, IN_HANDLER, Check


def test_authz_every_served_api_has_an_acl_entry() -> None:
    missing = sorted(k for k in HANDLERS if k not in ACLS)
    assert missing == [], f"APIs without an ACL entry in handlers/authz.py: {missing}"


def test_authz_entries_are_checks_or_in_handler() -> None:
    for key, entry in ACLS.items():
        assert entry == IN_HANDLER or (isinstance(entry, tuple) and all(isinstance(c, Check) for c in entry)), key
