"""Keep secrets out of evidence, reports and logs.

Headers that carry credentials are replaced wholesale; URLs lose userinfo and secret-looking query
parameters. Everything that writes an Exchange goes through here.

`Secrets` is the second line of defence: it remembers every secret value a run handles (user-info
passwords, credential headers, tokens a probe obtains) and scrubs them from any text or data
before it is written, whatever route they took to get there (a server echoing a header into a
JSON document, an exception message quoting a URL).
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

from ehrcheck.http.resource_types import RESOURCE_TYPES

REDACTED = "[redacted]"
# No brackets in a URL's user-info: urllib would read "[...]@host" as an IPv6 literal and fail.
REDACTED_USERINFO = "redacted"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-amz-security-token",
    }
)

URL_HEADERS = frozenset({"location", "content-location"})

SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "client_secret",
        "client_assertion",
        "code",
        "code_verifier",
        "id_token",
        "password",
        "refresh_token",
        "token",
        # API keys, signed-URL signatures (Azure SAS `sig`, S3, GCS) and sessions: each opens
        # something to whoever holds the URL.
        "key",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-security-token",
        "x-amz-credential",
        "x-goog-signature",
        "x-goog-credential",
        "session_token",
        "jsessionid",
        "phpsessid",
        "secret",
        "passwd",
    }
)


# Spellings of a credential's parameter name beyond SECRET_PARAMS, compared with the name in
# lower case and without punctuation (`x-api-key`, `AccessToken`, `oauth_signature`): a name
# containing one of PARTS, or equal to one of WHOLE. No FHIR search parameter matches either.
_SECRET_NAME_PARTS = ("token", "secret", "password", "passwd", "passcode", "key", "signature", "session",
                      "assertion", "credential", "jwt", "bearer", "hmac", "ticket", "samlresponse", "passphrase",
                      "verifier", "saml", "authcode", "authorizationcode", "devicecode", "usercode")  # fmt: skip
_SECRET_NAME_WHOLE = frozenset(
    {"sig", "pwd", "pw", "pass", "code", "auth", "authorization", "sid", "sessid", "ssid", "otp", "pin", "sas",
     "tok", "tkn", "cfid", "cftoken", "cred", "creds", "totp", "hotp", "mfa", "mfacode", "authn", "hash",
     "launch", "loginhint"}
)  # fmt: skip


def _name_base(name: str) -> str:
    """`name` decoded again (up to three times: `%253D` is an `=` encoded twice), cut at an `=`
    it holds and trimmed: the name as a server would read it, without a token it may carry."""
    for _ in range(3):
        decoded = unquote(name)
        if decoded == name:
            break
        name = decoded
    return name.partition("=")[0].strip()


def secret_param(name: str) -> bool:
    """Whether a query (or fragment) parameter named `name` carries a credential: one of
    SECRET_PARAMS or another usual spelling of one, in any case, also when the name itself holds
    the token (`access_token%3DTOKEN` decodes to the name `access_token=TOKEN`)."""
    lowered = name.lower()
    if lowered in SECRET_PARAMS:
        return True
    base = _name_base(lowered)
    squeezed = re.sub(r"[^a-z0-9]", "", base)
    return base in SECRET_PARAMS or squeezed in _SECRET_NAME_WHOLE or any(part in squeezed for part in _SECRET_NAME_PARTS)


def query_pairs(text: str) -> list[tuple[str, str]]:
    """parse_qsl's pairs of a query (or fragment), split at `;` too when a piece after one names a
    credential: servers of an older style (and Python before 3.9.2) read `a=1;access_token=T` as
    two parameters, parse_qsl as one whose value holds the token."""
    pairs = parse_qsl(text, keep_blank_values=True)
    if ";" in text:
        split = parse_qsl(text.replace(";", "&"), keep_blank_values=True)
        if any(secret_param(k) for k, _ in split):
            return split
    return pairs


def redacted_pair(name: str, value: str) -> tuple[str, str]:
    """(name, value) as a URL is recorded outside patient-data searches (redact_url): a value is
    kept only under one of FHIR's own parameter names (KEPT_PARAM_NAMES) and when it holds no
    query of its own naming a credential (`next=/cb?access_token=…`); any other name's value is
    redacted, whatever the name says (`passphrase`, `device_code`, a vendor's own), and the name
    is cut at an `=` it holds."""
    if secret_param(name) or name.partition(":")[0] not in URL_VALUE_NAMES or _holds_secret_param(value):
        return _name_base(name), REDACTED
    return name, value


def _holds_secret_param(value: str) -> bool:
    """Whether `value`, decoded up to three times, carries a parameter naming a credential."""
    for _ in range(3):
        if any(secret_param(m.group(2)) for m in TEXT_PARAMS.finditer("&" + value)):
            return True
        decoded = unquote(value)
        if decoded == value:
            return False
        value = decoded
    return False


# Response headers whose values are protocol facts (what the rules and a reader need); every other
# response header keeps its name and loses its value: a server may put a name, an MRN or an echo
# of what it was sent in any header of its own (`X-Patient-Name`), on any request.
FACT_HEADERS = frozenset(
    {
        "accept-ranges",
        "age",
        "allow",
        "alt-svc",
        "cache-control",
        "connection",
        "content-encoding",
        "content-language",
        "content-length",
        "content-security-policy",
        "content-type",
        "date",
        "etag",
        "expires",
        "keep-alive",
        "last-modified",
        "permissions-policy",
        "pragma",
        "referrer-policy",
        "retry-after",
        "server",
        "strict-transport-security",
        "transfer-encoding",
        "vary",
        "www-authenticate",
        "x-content-type-options",
        "x-frame-options",
        "x-progress",
    }
)
FACT_HEADER_PREFIXES = ("access-control-",)  # CORS answers, which the cors probe reports


def is_fact_header(name: str) -> bool:
    return name in FACT_HEADERS or name.startswith(FACT_HEADER_PREFIXES)


def redact_headers(headers: dict[str, str] | object, response: bool = False) -> dict[str, str]:
    """Headers as evidence records them: credential headers `[redacted]`, URLs redacted; for a
    response (`response=True`) also every value that is not a protocol fact (FACT_HEADERS)."""
    items = headers.items() if hasattr(headers, "items") else []
    out: dict[str, str] = {}
    for key, value in items:
        k = str(key).lower()
        if k in SECRET_HEADERS:
            out[k] = REDACTED
        elif k in URL_HEADERS and response:
            # a server's redirect or Content-Location may name a patient (`/Patient/123?
            # birthdate=…`) on any request, the anonymous probes' too: ids and values go
            try:
                out[k] = scrub_url(redact_url(str(value)))
            except ValueError:  # not a URL urlsplit accepts: nothing of it is kept
                out[k] = REDACTED
        elif k in URL_HEADERS:  # a redirect may carry a code or token in its query
            out[k] = redact_url(str(value))
        elif response and not is_fact_header(k):
            out[k] = REDACTED
        else:
            out[k] = str(value)
    return dict(sorted(out.items()))


# Parameters whose value may be kept, and then only when every comma-separated item of it is a
# word of VALUE_WORDS (or a resource type, for _type), optionally `system|word` with a system of
# VALUE_SYSTEMS; `_count` only as a number. Anything else (a code taken from a patient's record, a
# server's own text: `category=Smith`) is REDACTED: the value of `code` is always a patient's.
SAFE_PARAMS = frozenset({"_count", "_type", "_outputFormat", "_format", "_summary", "category", "intent", "status"})
# FHIR's and US Core's own codes for what was asked for; never who. Every category the US Core
# selectors name and every value ehrcheck ORs into a first search is here (a test holds them to it).
VALUE_WORDS = frozenset(
    {
        # _summary, _format, _outputFormat
        "true", "false", "text", "data", "count", "json", "xml", "ndjson", "application/json",
        "application/fhir+json", "application/fhir+xml", "application/fhir+ndjson", "application/ndjson",
        # categories (observation-category, us-core-category, condition-category, careplan-category,
        # DocumentReference's and DiagnosticReport's US Core categories)
        "laboratory", "vital-signs", "social-history", "survey", "imaging", "procedure", "exam", "therapy",
        "activity", "sdoh", "functional-status", "disability-status", "cognitive-status", "clinical-test",
        "treatment-intervention-preference", "care-experience-preference", "problem-list-item",
        "encounter-diagnosis", "health-concern", "assess-plan", "clinical-note", "LAB", "LP29684-5",
        "LP29708-2", "LP7839-6",
        # status and intent codes
        "proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order",
        "option", "directive", "proposed", "active", "suspended", "inactive", "entered-in-error", "draft",
        "on-hold", "revoked", "completed", "unknown", "registered", "preliminary", "final", "amended",
        "corrected", "cancelled", "current", "superseded", "planned", "arrived", "triaged", "in-progress",
        "onleave", "finished", "stopped", "not-done", "intended", "not-taken", "preparation", "resolved",
    }
)  # fmt: skip
VALUE_SYSTEMS = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "http://terminology.hl7.org/CodeSystem/condition-category",
        "http://terminology.hl7.org/CodeSystem/v2-0074",
        "http://hl7.org/fhir/us/core/CodeSystem/us-core-category",
        "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
        "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
        "http://loinc.org",
    }
)
# Parameter names that are FHIR's own words (its common and result parameters, the US Core search
# parameters, the paging parameters servers use): any other name in a server's link or redirect is
# the server's text and may be a person's (`?Smith=1`), so it becomes PARAM_REDACTED.
KEPT_PARAM_NAMES = SAFE_PARAMS | SECRET_PARAMS | frozenset(
    {
        "code", "_elements", "_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_text", "_content", "_list", "_has",
        "_include", "_revinclude", "_sort", "_total", "_contained", "_containedType", "_since", "_typeFilter",
        "_pretty", "since", "_page", "_getpages", "_getpagesoffset", "_offset", "_bundletype", "page", "pageSize",
        "address", "authored", "birthdate", "date", "gender", "identifier", "name", "patient", "practitioner",
        "specialty", "type", "family", "given", "telecom", "email", "phone", "subject", "encounter", "period",
        "class", "location", "organization", "performer", "effective", "onset-date", "clinical-status",
        "verification-status", "lifecycle-status", "target", "vaccine-code", "context", "discharge-disposition",
        "address-city", "address-state", "address-postalcode", "death-date", "abatement-date", "recorded-date",
        "asserted-date", "authoredon", "participant", "role", "value-quantity", "value-concept", "result",
    }
)  # fmt: skip
# The names whose values a recorded URL keeps (redacted_pair): FHIR's, minus the credentials'.
URL_VALUE_NAMES = KEPT_PARAM_NAMES - SECRET_PARAMS
PARAM_REDACTED = "[param]"
_MODIFIER = re.compile(r"^[a-z][a-z-]{0,30}$|^[A-Z][A-Za-z]{2,40}$")  # :exact, :missing, :Patient


def _kept_name(name: str) -> str:
    base, _, modifier = name.partition(":")
    if base not in KEPT_PARAM_NAMES or (modifier and not _MODIFIER.match(modifier)):
        return PARAM_REDACTED
    if modifier and modifier[0].isupper() and modifier not in RESOURCE_TYPES:
        return PARAM_REDACTED
    return name


def _kept_word(item: str) -> bool:
    system, bar, word = item.rpartition("|")
    if bar and system not in VALUE_SYSTEMS:
        return False
    return word in VALUE_WORDS or word in RESOURCE_TYPES


def _kept_value(name: str, value: str) -> str:
    base = name.partition(":")[0]
    if base not in SAFE_PARAMS or name != base:  # `category:text=…` is free text
        return REDACTED
    if base == "_count":
        return value if value.isascii() and value.isdigit() and len(value) <= 9 else REDACTED
    return value if all(_kept_word(item) for item in value.split(",")) else REDACTED


# Path words that never name a person: FHIR's interaction and operation words, discovery paths and
# the usual words of a server's base path (/api/FHIR/R4). Resource types are in RESOURCE_TYPES.
KEPT_PATH_WORDS = frozenset({"_history", "_search", "metadata", ".well-known", "smart-configuration", "openid-configuration"})
BASE_PATH_WORD = re.compile(r"^(api|fhir|r[2-5]b?|stu3|dstu2|base(r4|stu3|dstu2)?|v[0-9]{1,2}|)$", re.IGNORECASE)
OPERATIONS = frozenset(
    {
        "$export", "$everything", "$validate", "$meta", "$meta-add", "$meta-delete", "$bulk-data-status",
        "$docref", "$lastn", "$expand", "$lookup", "$validate-code", "$translate", "$import", "$member-match",
        "$match", "$stats", "$document", "$process-message", "$graphql", "$closure", "$subsumes", "$apply",
        "$evaluate-measure", "$data-requirements", "$find", "$populate", "$submit", "$transform", "$versions",
    }
)  # fmt: skip


def _kept_segment(segment: str) -> bool:
    if segment.endswith(".ndjson"):  # a Bulk file named for its type (Patient.ndjson) says no more than the type
        return segment[: -len(".ndjson")] in RESOURCE_TYPES
    return segment in RESOURCE_TYPES or segment in KEPT_PATH_WORDS or segment in OPERATIONS or bool(BASE_PATH_WORD.match(segment))


def scrub_url(url: str, base_url: str = "") -> str:
    """Patient data out of a URL. Every path segment that is not a word of FHIR's own (a resource
    type, `_history`, an operation, `metadata`, a usual base-path word) becomes `[id]`: ids,
    version ids, and whatever a server puts after them, in any case or encoding (`Patient%2F123`
    is one unknown segment). Query values become `[redacted]` (but SAFE_PARAMS' when made of
    VALUE_WORDS, `_count` only as a number), and a parameter name that is not one of FHIR's (KEPT_PARAM_NAMES) `[param]`; user-info and
    fragment go. `base_url`'s own path is kept as is when `url` lies under it."""
    parts = urlsplit(url)
    base = urlsplit(base_url) if base_url else None
    base_path = ""
    if base is not None and (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
        candidate = base.path.rstrip("/")
        if parts.path == candidate or parts.path.startswith(candidate + "/"):
            base_path = candidate
    segments = parts.path[len(base_path) :].split("/")
    segments = [seg if _kept_segment(seg) else "[id]" for seg in segments]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(_kept_name(k), _kept_value(k, v)) for k, v in pairs], safe="/:$|,*[]")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, base_path + "/".join(segments), query, ""))


def strip_credentials(url: str) -> str:
    """`url` without user-info, token-like query parameters (SECRET_PARAMS) or fragment: what an
    address someone else published (an Endpoint Bundle's) may be sent to and recorded as. httpx
    would turn the user-info into a Basic header for that host, and a token in the query would be
    sent and kept. Raises ValueError when urlsplit refuses the URL."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    pairs = query_pairs(parts.query)
    query = urlencode([(k, v) for k, v in pairs if not secret_param(k)], safe="/:$|,*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _redacted_pairs(text: str, safe: str = "/:$|,*") -> str:
    pairs = query_pairs(text)
    return urlencode([redacted_pair(k, v) for k, v in pairs], safe=safe)


# A path parameter (`/r4;jsessionid=…`): FHIR gives them no meaning, servers put sessions there.
_PATH_PARAM = re.compile(r"(;[^/;=]*=)[^/;]*")


def redact_path_params(path: str) -> str:
    """`path` with the value of every path parameter (`;name=value`) redacted."""
    return _PATH_PARAM.sub(r"\1" + REDACTED, path) if ";" in path else path


def redact_url(url: str) -> str:
    """`url` without user-info, path parameter values, or the values of token-like parameters in
    its query or its fragment: `#access_token=…` is where OAuth's implicit grant puts the token."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED_USERINFO + "@" + netloc.rsplit("@", 1)[1]
    path = redact_path_params(parts.path)
    query = _redacted_pairs(parts.query) if parts.query else ""
    fragment = parts.fragment
    if "=" in fragment:
        fragment = _redacted_pairs(fragment, safe="/:$|,*[]")
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def shown_url(url: str) -> str:
    """A URL someone else wrote (a published token endpoint, an endpoint Bundle's address) as
    evidence records it: through redact_url, or `[not a URL]` when urlsplit refuses it (a broken
    IPv6 literal), so nothing of it is quoted."""
    try:
        return redact_url(url)
    except ValueError:
        return "[not a URL]"


# The shapes a credential takes in text that may not even parse as a URL (a junk line of an
# endpoint list, a row of a hand-made history database): user-info after "://" up to the last "@" before the path, and
# the value of a token-like parameter after "?", "&", "#" or ";".
_TEXT_USERINFO = re.compile(r"(?<=://)[^/?#]*@")
# A parameter in free text: its name (anything up to `=`, spaces and tabs included, as a junk
# line may have them) and its value; the value goes when secret_param says the name is one.
TEXT_PARAMS = re.compile(r"(?i)([?&#;]([^=&#;?\n]{1,64})(?:=|%3d))([^&#;\s\"']*)")


def text_param(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED if secret_param(match.group(2)) else match.group(0)


def redact_url_text(text: str) -> str:
    """`text` with URL user-info and token-like parameter values replaced, without parsing it:
    for addresses quoted because they are not usable URLs (a space in the path, a port out of
    range), which `redact_url` cannot read."""
    return TEXT_PARAMS.sub(text_param, _TEXT_USERINFO.sub(REDACTED_USERINFO + "@", text))


SECRET_WORDS = ("key", "secret", "token", "password", "assertion")
# Settings that name where a secret goes or lies, not the secret (`token_endpoint`,
# `private_key_file`): scrubbing them blanked the token endpoint out of --debug and the evidence.
ADDRESS_KEYS = ("_endpoint", "_url", "_uri", "_file", "_path")

# Fields of a token answer whose value is a protocol word, not a credential (RFC 6749, RFC 8693).
TOKEN_KIND_FIELDS = frozenset({"token_type", "issued_token_type"})

# Shorter values would scrub ordinary words and numbers out of reports; no real secret is this short.
MIN_SECRET_LENGTH = 6


def encodings(value: str) -> set[str]:
    """`value` in the encodings an echo might use; the raw value itself not included."""
    import json

    raw = value.encode("utf-8", "replace")
    escaped = json.dumps(value)[1:-1]
    # Every character as a JSON \uXXXX escape (UTF-16 code units), in either case of hex digit.
    units = value.encode("utf-16-be", "surrogatepass")
    all_escaped = "".join(f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2))
    return {
        "".join(f"%{byte:02X}" for byte in raw),  # every byte percent-encoded (either case: see Secrets)
        all_escaped,
        all_escaped.upper().replace("\\U", "\\u"),
        quote(value, safe=""),
        quote(value, safe="/:@"),
        quote_plus(value),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        escaped,
        escaped.replace("/", "\\/"),
    } - {value}


_PERCENT = re.compile(r"%([0-9A-Fa-f])([0-9A-Fa-f])")


def _either_case(match: re.Match[str]) -> str:
    return "%" + "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in match.groups())


# A field capped at N characters (a CapabilityStatement's publisher at 500) can end in the first
# part of a secret that the cap cut; this many characters of it are enough to hide.
CUT_SECRET_MIN = 8
CUT_TEXT_MIN = 64


def _without_cut_secret(text: str, values: list[str]) -> str:
    """`text` with a tail that is the beginning of one of `values` (cut by a length cap, perhaps
    followed by an ellipsis) replaced."""
    body = text.rstrip("…")
    if len(body) < CUT_TEXT_MIN:  # no cap cuts a text this short: a short text is not a cut one
        return text
    lowered: str | None = None
    for value in values:
        if len(value) <= CUT_SECRET_MIN:
            continue
        seen, wanted = body, value
        if "%" in value:  # a percent-encoded form is compared in lower case: its hex digits may be in either
            lowered = body.lower() if lowered is None else lowered
            seen, wanted = lowered, value.lower()
        head = wanted[:CUT_SECRET_MIN]
        at = seen.find(head, max(0, len(seen) - len(wanted) + 1))
        while at != -1:
            if wanted.startswith(seen[at:]):
                return body[:at] + REDACTED
            at = seen.find(head, at + 1)
    return text


class Secrets:
    """The secret values of one run, and scrubbing of anything that might quote them."""

    def __init__(self, values: list[str] | None = None):
        self._values: set[str] = set()
        self._percent: re.Pattern[str] | None = None  # built on first use after a value is added
        self._longest_first: list[str] | None = None  # likewise: scrub_data calls scrub per string
        for value in values or []:
            self.add(value)

    def add(self, value: str | None) -> None:
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        self._percent = self._longest_first = None
        self._values.add(value)
        # The same value as a server may echo it: percent- and form-encoded, base64, JSON-escaped.
        for variant in encodings(value):
            if len(variant) >= MIN_SECRET_LENGTH:
                self._values.add(variant)
        # A header like "Bearer abc" or "Basic dXNlcjpwdw==" is also quoted by its token alone,
        # in every encoding the whole value is matched in.
        scheme, _, token = value.partition(" ")
        if token and scheme.isalpha() and len(token) >= MIN_SECRET_LENGTH:
            self.add(token)

    def add_url(self, url: str) -> None:
        """User-info and secret query parameters of a URL, raw and percent-decoded."""
        parts = urlsplit(url)
        if "@" in parts.netloc:
            userinfo = parts.netloc.rsplit("@", 1)[0]
            user, _, password = userinfo.partition(":")
            for value in (userinfo, password, unquote(password)):
                self.add(value)
            if password:  # what httpx sends for it: Authorization: Basic base64(user:password)
                token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
                self.add(f"Basic {token}")
        for key, value in query_pairs(parts.query) + query_pairs(parts.fragment):
            if secret_param(key):
                self.add(value or key.partition("=")[2])

    def add_headers(self, headers: dict[str, str] | object) -> None:
        items = headers.items() if hasattr(headers, "items") else []
        for key, value in items:
            if str(key).lower() in SECRET_HEADERS:
                self.add(str(value))

    def add_settings(self, settings: Any, key: str = "", depth: int = 0) -> None:
        """Probe settings (CHPL key, credentials...): every value held in a secret wrapper (one
        with `reveal()`), and every string under a key that names a secret."""
        if depth > 8:  # settings hold plain data; deeper means a cycle, not a secret
            return
        if hasattr(settings, "reveal"):
            self.add(str(settings.reveal()))
        elif isinstance(settings, dict):
            for k, v in settings.items():
                self.add_settings(v, str(k), depth + 1)
        elif isinstance(settings, list | tuple):
            for v in settings:
                self.add_settings(v, key, depth + 1)
        elif hasattr(settings, "__dataclass_fields__"):
            for name in settings.__dataclass_fields__:
                self.add_settings(getattr(settings, name, None), name, depth + 1)
        elif isinstance(settings, str) and any(w in key.lower() for w in SECRET_WORDS) and not key.endswith(ADDRESS_KEYS):
            self.add(settings)

    def add_token_answer(self, doc: Any, secret: bool = False, depth: int = 0) -> None:
        """A token endpoint's JSON answer: every string under a key that names a credential
        (`secret_param`: `refresh_token`, `device_secret`, an issued `client_secret`,
        `session_state`, a `…_token` nested in an object), at any depth. `token_type` and
        `issued_token_type` name a kind of token (`bearer`), a word reports must keep."""
        if depth > 16:  # a real answer is one or two levels deep
            return
        if isinstance(doc, str):
            if secret:
                self.add(doc)
        elif isinstance(doc, dict):
            for key, value in doc.items():
                named = secret_param(str(key)) and str(key).lower() not in TOKEN_KIND_FIELDS
                self.add_token_answer(value, secret or named, depth + 1)
        elif isinstance(doc, list):
            for value in doc:
                self.add_token_answer(value, secret, depth + 1)

    def __bool__(self) -> bool:
        return bool(self._values)

    def scrub(self, text: str) -> str:
        if self._longest_first is None:  # longest first: no partial leftovers
            self._longest_first = sorted(self._values, key=len, reverse=True)
        longest_first = self._longest_first
        for value in longest_first:
            if value in text:
                text = text.replace(value, REDACTED)
        if "%" in text and (pattern := self._percent_pattern()) is not None:
            # Percent-encoding's hex digits may be either case (RFC 3986 §2.1): `%2f` is `%2F`, and
            # a server that re-encodes an echo in lower case must not get it past the scrubber.
            text = pattern.sub(REDACTED, text)
        return _without_cut_secret(text, longest_first)

    def _percent_pattern(self) -> re.Pattern[str] | None:
        if self._percent is None:
            encoded = sorted((v for v in self._values if _PERCENT.search(v)), key=len, reverse=True)
            if not encoded:
                return None
            self._percent = re.compile("|".join(_PERCENT.sub(_either_case, re.escape(v)) for v in encoded))
        return self._percent

    def scrub_data(self, data: Any, keep: frozenset[str] = frozenset()) -> Any:
        """`scrub` applied to every string (keys included, but those in `keep`) of a JSON-like value."""
        if not self._values:
            return data
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, dict):
            return {(k if k in keep else self.scrub_data(k)): self.scrub_data(v, keep) for k, v in data.items()}
        if isinstance(data, list):
            return [self.scrub_data(v, keep) for v in data]
        return data
