"""Users and their credentials: PLAIN passwords (Kafka's JAAS ``user_NAME="PASSWORD"``) and SCRAM credentials
(Kafka's controller keeps them per user and mechanism; AlterUserScramCredentials changes them).

``users`` of the config ("NAME:PASSWORD") get a PLAIN password and SCRAM-SHA-256 and -512 credentials of
4096 iterations. SCRAM credentials altered over the wire are kept with a data directory (``on_change``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode
from kafkasim.security.scram import (
    MAX_ITERATIONS,
    MECHANISMS,
    MIN_ITERATIONS,
    ScramCredential,
    credential_from_salted_password,
    scram_credential,
)

#: Kafka's ScramMechanism codes (DescribeUserScramCredentials, AlterUserScramCredentials)
MECHANISM_CODES = {code: name for name, (_h, code) in MECHANISMS.items()}


@dataclass(frozen=True, slots=True)
class UserResult:
    user: str
    error_code: int = ErrorCode.NO_ERROR
    error_message: str | None = None
    #: (mechanism code, iterations) of the user's credentials (describe only)
    credentials: tuple[tuple[int, int], ...] = ()


class Credentials:
    """Implements :class:`kafkasim.security.sasl.CredentialSource` for the SASL mechanisms."""

    def __init__(self, config: BrokerConfig) -> None:
        self._plain: dict[str, str] = {}
        self.scram: dict[str, dict[str, ScramCredential]] = {}
        #: (user, mechanism, credential or None for a deletion): a change to keep (persistence)
        self.on_change: Callable[[str, str, ScramCredential | None], None] | None = None
        for entry in config.users:
            user, _, password = entry.partition(":")
            self._plain[user] = password
            self.scram[user] = {m: scram_credential(m, password) for m in MECHANISMS}

    # ------------------------------------------------------------------ CredentialSource

    def plain_password(self, user: str) -> str | None:
        return self._plain.get(user)

    def scram_credential(self, user: str, mechanism: str) -> ScramCredential | None:
        return self.scram.get(user, {}).get(mechanism)

    @property
    def users(self) -> list[str]:
        return sorted(set(self._plain) | set(self.scram))

    def restore(self, user: str, mechanism: str, credential: ScramCredential) -> None:
        """A credential kept in the data directory (replaces the config's)."""
        self.scram.setdefault(user, {})[mechanism] = credential

    def forget(self, user: str, mechanism: str) -> None:
        """A deletion kept in the data directory."""
        creds = self.scram.get(user)
        if creds is not None:
            creds.pop(mechanism, None)
            if not creds:
                del self.scram[user]

    # ------------------------------------------------------------------ the admin APIs

    def describe(self, users: Iterable[str] | None) -> tuple[int, str | None, list[UserResult]]:
        """DescribeUserScramCredentials: (top-level error, message, per user). None: every user with SCRAM
        credentials. Kafka: a user asked for twice is DUPLICATE_RESOURCE, one without credentials
        RESOURCE_NOT_FOUND."""
        if users is None:
            return 0, None, [self._described(u) for u in sorted(self.scram)]
        wanted = list(users)
        out = []
        for u in dict.fromkeys(wanted):
            if wanted.count(u) > 1:
                out.append(UserResult(u, ErrorCode.DUPLICATE_RESOURCE, f"Cannot describe SCRAM credentials for the "
                                                                         f"same user twice in a single request: {u}"))
            elif u not in self.scram:
                out.append(UserResult(u, ErrorCode.RESOURCE_NOT_FOUND, f"Attempt to describe a user credential "
                                                                         f"that does not exist: {u}"))
            else:
                out.append(self._described(u))
        return 0, None, out

    def _described(self, user: str) -> UserResult:
        creds = self.scram[user]
        return UserResult(user, credentials=tuple(
            (MECHANISMS[m][1], c.iterations) for m, c in sorted(creds.items(), key=lambda kv: MECHANISMS[kv[0]][1])))

    def alter(self, deletions: list[tuple[str, int]], upsertions: list[tuple[str, int, int, bytes, bytes]]
              ) -> list[UserResult]:
        """AlterUserScramCredentials: deletions (user, mechanism code) and upsertions (user, mechanism code,
        iterations, salt, salted password), validated per user as Kafka's controller does; a user with any
        bad entry changes nothing. One result per user, in request order."""
        named = [u for u, _ in deletions] + [u for u, *_ in upsertions]
        order = list(dict.fromkeys(named))
        errors: dict[str, tuple[int, str]] = {}

        def fail(user: str, code: int, message: str) -> None:
            errors.setdefault(user, (code, message))

        for user in order:  # Kafka: a user may be named once per request, whatever the mechanisms
            if named.count(user) > 1:
                fail(user, ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same "
                                                         "request")

        def named_well(user: str, code: int) -> bool:
            if not user:
                fail(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty")
            elif code not in MECHANISM_CODES:
                fail(user, ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism")
            else:
                return True
            return False

        for user, code in deletions:
            if named_well(user, code) and MECHANISM_CODES[code] not in self.scram.get(user, {}):
                fail(user, ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")
        for user, code, iterations, salt, salted in upsertions:
            if not named_well(user, code):
                continue
            if iterations < MIN_ITERATIONS:
                fail(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations")
            elif iterations > MAX_ITERATIONS:
                fail(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations")
            elif not salt or not salted:
                fail(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Salt and salted password must not be empty")
        for user, code in deletions:
            if user not in errors:
                mechanism = MECHANISM_CODES[code]
                self.forget(user, mechanism)
                if self.on_change is not None:
                    self.on_change(user, mechanism, None)
        for user, code, iterations, salt, salted in upsertions:
            if user not in errors:
                mechanism = MECHANISM_CODES[code]
                cred = credential_from_salted_password(mechanism, bytes(salted), bytes(salt), iterations)
                self.scram.setdefault(user, {})[mechanism] = cred
                if self.on_change is not None:
                    self.on_change(user, mechanism, cred)
        return [UserResult(u, *errors[u]) if u in errors else UserResult(u) for u in order]
