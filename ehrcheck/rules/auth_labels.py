"""Plain words for the broken token requests the token probe sends, shared by the checks and
the report (kept apart so the report need not import the check registry)."""

NEGATIVE_LABEL = {
    "bad_signature": "an assertion signed with a key the server never saw",
    "wrong_aud": "an assertion addressed to another audience",
    "expired_exp": "an assertion that expired ten minutes ago",
    "replayed_jti": "an assertion used a second time (same jti)",
    "wrong_client_assertion_type": "a wrong client_assertion_type",
    "wrong_grant_type": "a wrong grant_type",
    "wrong_secret": "a wrong client secret",
    "no_client_auth": "no client authentication at all",
}
