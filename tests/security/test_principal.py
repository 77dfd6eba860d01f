"""ssl.principal.mapping.rules (kafkasim.security.principal), after Kafka's SslPrincipalMapperTest."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kafkasim.security.principal import MAX_RULES_LENGTH, PrincipalMapper, parse_rules, subject_dn
from kafkasim.security.tls import client_certificate, generate_certificates

SERVICE = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/"
FULL_L = "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L"
FULL_U = "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/U"
DN = "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Cupertino,ST=CA,C=US"


def test_default():
    mapper = PrincipalMapper("DEFAULT")
    assert mapper.name_for_dn(DN) == DN
    assert mapper.principal_for_dn("CN=alice") == "User:CN=alice"
    assert PrincipalMapper().name_for_dn(DN) == DN


@pytest.mark.parametrize("rules", ["", "   "])
def test_empty_rules_are_default(rules):
    assert PrincipalMapper(rules).name_for_dn(DN) == DN


def test_service_users():
    mapper = PrincipalMapper(SERVICE)
    assert mapper.name_for_dn("CN=kafka-client,OU=ServiceUsers,O=Org,C=US") == "kafka-client"
    assert mapper.name_for_dn("CN=kafka-client,OU=ServiceUsers") == "kafka-client"
    with pytest.raises(ValueError):
        mapper.name_for_dn("CN=kafka-client,OU=People,O=Org")


def test_lower_and_upper_case():
    assert PrincipalMapper(FULL_L).name_for_dn(DN) == "duke@javasoft"
    assert PrincipalMapper(FULL_U).name_for_dn(DN) == "DUKE@JAVASOFT"
    assert PrincipalMapper(FULL_L.removesuffix("L")).name_for_dn(DN) == "Duke@JavaSoft"


def test_first_match_wins():
    mapper = PrincipalMapper(f"{SERVICE},{FULL_L},DEFAULT")
    assert mapper.name_for_dn("CN=svc,OU=ServiceUsers,O=Org") == "svc"
    assert mapper.name_for_dn(DN) == "duke@javasoft"
    assert mapper.name_for_dn("CN=other") == "CN=other"
    mapper = PrincipalMapper(f"DEFAULT,{SERVICE}")
    assert mapper.name_for_dn("CN=svc,OU=ServiceUsers") == "CN=svc,OU=ServiceUsers"
    mapper = PrincipalMapper(f"{FULL_U}, {FULL_L}")
    assert mapper.name_for_dn(DN) == "DUKE@JAVASOFT"


def test_rules_with_whitespace_and_newlines():
    mapper = PrincipalMapper(f"  {SERVICE} ,\n  {FULL_L}  ,\n DEFAULT ")
    assert [r.default for r in mapper.rules] == [False, False, True]
    assert mapper.name_for_dn(DN) == "duke@javasoft"


def test_no_rule_matches():
    mapper = PrincipalMapper(f"{SERVICE},{FULL_L}")
    with pytest.raises(ValueError, match="No rules apply"):
        mapper.name_for_dn("CN=nobody")
    with pytest.raises(ValueError):
        mapper.principal_for_dn("CN=nobody")


def test_pattern_matches_the_whole_dn():
    mapper = PrincipalMapper("RULE:CN=([a-z]+)/$1/")
    assert mapper.name_for_dn("CN=alice") == "alice"
    with pytest.raises(ValueError):
        mapper.name_for_dn("CN=alice,OU=x")


def test_escaped_slash_comma_and_literal_replacement():
    mapper = PrincipalMapper(r"RULE:^CN=([^,]*)\/(.*)$/$2-$1 \$3/")
    assert mapper.name_for_dn("CN=a/b") == "b-a $3"
    mapper = PrincipalMapper(r"RULE:^CN=(.*?)\,OU=(.*)$/$1/,DEFAULT")
    assert mapper.name_for_dn("CN=a,OU=b") == "a"
    mapper = PrincipalMapper(r"RULE:^(.*)$/x\\y/")
    assert mapper.name_for_dn("z") == "x\\y"


def test_parse_rules_kinds():
    rules = parse_rules(f"DEFAULT,{FULL_L}")
    assert rules[0].default and not rules[1].default
    assert rules[1].case == "L" and rules[1].pattern is not None


@pytest.mark.parametrize("rules", [
    "RULE:oops",
    "garbage",
    "DEFAULT,garbage",
    "RULE:^CN=(.*)$/$1",  # no closing slash
    "RULE:^CN=(.*)$",
    "RULE:^CN=((.*)$/$1/",  # not a regular expression
    "RULE:[/$1/",
    "DEFAULTS",
    "default",
    "DEFAUL",
    "DEFAULT/L",
    "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
    "x" * (MAX_RULES_LENGTH + 1),
])
def test_invalid_rules(rules):
    with pytest.raises(ValueError):
        PrincipalMapper(rules)


def test_empty_rules_between_commas_are_ignored():
    """As Kafka's SslPrincipalMapper ignores empty rules."""
    assert [r.default for r in parse_rules(f"{SERVICE},,DEFAULT")] == [False, True]


@pytest.mark.parametrize("rules", [
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/LU",
    "RULE:^CN=(.*)$/$1/Lgarbage",
])
def test_junk_after_the_case_flag(rules):
    with pytest.raises(ValueError):
        PrincipalMapper(rules)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return generate_certificates(str(tmp_path_factory.mktemp("certs")), ["localhost"])


def der(path) -> bytes:
    return x509.load_pem_x509_certificate(Path(path).read_bytes()).public_bytes(serialization.Encoding.DER)


def test_subject_dn_of_a_client_certificate(certs):
    certfile, keyfile = client_certificate(str(certs.directory), "alice")
    assert certfile.endswith("client-alice.pem") and keyfile.endswith("client-alice-key.pem")
    assert subject_dn(der(certfile)) == "CN=alice"
    assert PrincipalMapper().principal_for_dn(subject_dn(der(certfile))) == "User:CN=alice"
    assert PrincipalMapper("RULE:^CN=(.*)$/$1/U").principal_for_dn(subject_dn(der(certfile))) == "User:ALICE"
    # the same DER as the ssl module gives
    assert ssl.PEM_cert_to_DER_cert(Path(certfile).read_text()) == der(certfile)


def test_subject_dn_escapes_and_odd_names(certs):
    certfile, _ = client_certificate(str(certs.directory), "a,b")
    assert subject_dn(der(certfile)) == "CN=a\\,b"
    assert certfile.endswith("client-a_b.pem")


def test_subject_dn_of_the_ca_and_server(certs):
    assert subject_dn(der(str(certs.ca))) == "CN=kafkasim CA"
    assert subject_dn(der(str(certs.cert))) == "CN=kafkasim"


def test_deeply_nested_pattern():
    with pytest.raises(ValueError):
        PrincipalMapper("RULE:" + "(" * 4000 + ")" * 4000 + "/x/")


def test_replacement_with_a_missing_group():
    try:
        mapper = PrincipalMapper("RULE:^CN=(.*)$/$2/")
    except ValueError:
        return
    with pytest.raises(ValueError):
        mapper.name_for_dn("CN=alice")
