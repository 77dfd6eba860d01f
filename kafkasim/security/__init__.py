"""SANS-IO security: SASL mechanisms as small state machines (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER), SCRAM
credentials, the principal of a client certificate (``ssl.principal.mapping.rules``), and TLS contexts and
certificates. No sockets: the server (server/authentication.py, server/security.py) drives these.
"""
