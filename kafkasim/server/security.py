"""What the listeners of a cluster share for security: the TLS context (from PEM files, or a CA and server
certificate generated at start), the principal of a client certificate (``ssl.principal.mapping.rules``),
and the credentials SASL checks. The mechanisms and TLS helpers are :mod:`kafkasim.security`'s (SANS-IO);
this module only wires them to the listeners.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kafkasim.config import BrokerConfig, Listener
    from kafkasim.security.oauthbearer import OAuthSettings
    from kafkasim.security.principal import PrincipalMapper
    from kafkasim.security.sasl import CredentialSource

log = logging.getLogger(__name__)
ANONYMOUS = "User:ANONYMOUS"


class ListenerSecurity:
    """The TLS context and principal mapping of a cluster's listeners, and the credentials SASL checks."""

    def __init__(self, config: BrokerConfig, credentials: CredentialSource) -> None:
        self.config = config
        self.credentials = credentials
        self.context: ssl.SSLContext | None = None
        self.mapper: PrincipalMapper | None = None
        #: the CA clients should trust (ssl.ca.location), when TLS is served
        self.ca_file: str | None = None
        self.cert_dir: str | None = None  # where generated certificates are
        self._temp_dir: str | None = None
        self._oauth: OAuthSettings | None = None

    @property
    def oauth(self) -> OAuthSettings:
        """OAUTHBEARER's validation settings (the JWKS file is read once, at first use)."""
        if self._oauth is None:
            from kafkasim.security.oauthbearer import OAuthSettings

            self._oauth = OAuthSettings.from_config(self.config)
        return self._oauth

    def open(self) -> None:
        """Build the TLS context (generating certificates if no certificate file is configured)."""
        cfg = self.config
        if not any(x.tls for x in cfg.listener_specs) or self.context is not None:
            return
        from kafkasim.security.principal import PrincipalMapper
        from kafkasim.security.tls import generate_certificates, server_context

        self.mapper = PrincipalMapper(cfg.ssl_principal_mapping_rules)
        if cfg.ssl_certfile is not None:
            certfile, keyfile, ca = cfg.ssl_certfile, cfg.ssl_keyfile, cfg.ssl_cafile
        else:
            directory = cfg.ssl_generate_dir
            if directory is None:
                directory = self._temp_dir = tempfile.mkdtemp(prefix="kafkasim-tls-")
            hosts = sorted({h for x in cfg.listener_specs for h in (x.host, x.advertised_host) if h})
            gen = generate_certificates(directory, hosts or ["localhost"])
            certfile, keyfile = str(gen.cert), str(gen.key)
            ca = cfg.ssl_cafile or str(gen.ca)
            self.cert_dir = directory
            log.info("TLS certificates for %s in %s (clients: ssl.ca.location=%s)", ", ".join(hosts), directory,
                     gen.ca)
        self.ca_file = ca
        self.context = server_context(certfile, keyfile, ca, cfg.ssl_client_auth)

    def close(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def ssl_context(self, listener: Listener) -> ssl.SSLContext | None:
        return self.context if listener.tls else None

    def tls_principal(self, ssl_object: ssl.SSLObject | None) -> str:
        """The principal of a TLS connection: ``User:<subject DN>`` of its client certificate (mapped by the
        rules), or ANONYMOUS without one."""
        if ssl_object is None or self.mapper is None:
            return ANONYMOUS
        der = ssl_object.getpeercert(binary_form=True)
        if not der:
            return ANONYMOUS
        from kafkasim.security.principal import subject_dn

        return self.mapper.principal_for_dn(subject_dn(der))
