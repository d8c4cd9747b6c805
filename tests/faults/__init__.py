"""Fault injection: a misbehaving HTTP(S) server of our own on 127.0.0.1, and the certificates it
can present. See server.py for the faults and certs.py for the broken TLS set-ups."""
