"""The principal of a TLS client certificate, as Kafka's DefaultKafkaPrincipalBuilder makes it: the subject's
distinguished name in RFC 2253 form (Java's ``X500Principal.getName()``), mapped by
``ssl.principal.mapping.rules``:

- ``DEFAULT``: the DN as it is;
- ``RULE:pattern/replacement/`` with an optional ``L`` (lower case) or ``U`` (upper case) after the last
  slash: when the Java regular expression ``pattern`` matches the whole DN, the principal is the replacement
  (``$1`` ... groups); rules are comma-separated, the first match wins; a DN no rule matches is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: a rule is a few hundred characters at most in practice; a longer string is refused before any regex runs
MAX_RULES_LENGTH = 8192
_RULE = re.compile(r"\s*((DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?)|(.*?))\s*(,\s*|$)")


@dataclass(frozen=True, slots=True)
class _Rule:
    default: bool
    pattern: re.Pattern[str] | None = None
    replacement: str = ""
    case: str = ""


def _java_replacement(replacement: str) -> str:
    """Java's ``$1`` group references as Python's ``\\g<1>``; backslash escapes kept literal."""
    out = []
    i = 0
    while i < len(replacement):
        c = replacement[i]
        if c == "\\" and i + 1 < len(replacement):
            out.append(replacement[i + 1].replace("\\", "\\\\"))
            i += 2
            continue
        if c == "$" and i + 1 < len(replacement) and replacement[i + 1].isdigit():
            j = i + 1
            while j < len(replacement) and replacement[j].isdigit():
                j += 1
            out.append(f"\\g<{replacement[i + 1:j]}>")
            i = j
            continue
        out.append("\\\\" if c == "\\" else c)
        i += 1
    return "".join(out)


def parse_rules(rules: str) -> list[_Rule]:
    """Kafka's SslPrincipalMapper.parseRules: ValueError for a string that is not rules."""
    if len(rules) > MAX_RULES_LENGTH:
        raise ValueError("ssl.principal.mapping.rules is too long")
    out: list[_Rule] = []
    pos = 0
    text = rules.strip()
    if not text:
        return [_Rule(True)]
    while pos < len(text):
        m = _RULE.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"Invalid rule: {text[pos:]}")
        if m.group(8) is not None and m.group(8) != "":
            raise ValueError(f"Invalid rule: {m.group(8)}")
        if m.group(2):
            out.append(_Rule(True))
        elif m.group(3) is not None:
            try:
                pattern = re.compile(m.group(3))
            except (re.error, RecursionError, OverflowError) as exc:  # nested too deep is not a rule either
                raise ValueError(f"Invalid rule: {m.group(0).strip()} ({type(exc).__name__})") from None
            replacement = _java_replacement(m.group(5))
            for ref in re.findall(r"\\g<(\d+)>", replacement):
                if int(ref) > pattern.groups:
                    raise ValueError(f"Invalid rule: {m.group(0).strip()} (no group {ref} in the pattern)")
            out.append(_Rule(False, pattern, replacement, m.group(7)))
        pos = m.end()
    return out


class PrincipalMapper:
    """``ssl.principal.mapping.rules``, parsed once."""

    def __init__(self, rules: str = "DEFAULT") -> None:
        self.rules = parse_rules(rules)

    def name_for_dn(self, dn: str) -> str:
        for rule in self.rules:
            if rule.default:
                return dn
            assert rule.pattern is not None
            m = rule.pattern.fullmatch(dn)
            if m is None:
                continue
            name = m.expand(rule.replacement)
            return name.lower() if rule.case == "L" else name.upper() if rule.case == "U" else name
        raise ValueError(f"No rules apply to {dn}, rules {self.rules}")

    def principal_for_dn(self, dn: str) -> str:
        return f"User:{self.name_for_dn(dn)}"


def subject_dn(der_cert: bytes) -> str:
    """The certificate's subject DN as Java prints it (RFC 2253: the last RDN first, ``CN=x,OU=y,O=z``)."""
    from cryptography import x509

    return x509.load_der_x509_certificate(der_cert).subject.rfc4514_string()
