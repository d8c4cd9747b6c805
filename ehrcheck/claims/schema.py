"""The vendor claims schema, version 1: one section per topic, one question per field.

Every field is optional: a blank answer means the vendor did not say, which the rules treat as
"not stated" (never as yes or no). Each field carries its label (for tables), the question (for
the questionnaire and error messages), the form an answer takes, and an example; `template.py`
writes the questionnaire from exactly these, so the template and the validator cannot drift.

Answers are read strictly (a quoted "yes" is not a boolean, 6.5 is not a whole number of days)
because a claims file is evidence: guessing what a vendor meant would put words in its mouth.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from ehrcheck.probes.certification.chpl_number import parse_product_number

CLAIMS_VERSION = 1


def ask(label: str, question: str, form: str, example: Any = None, **constraints: Any) -> Any:
    """A claims field: optional, with its label, question, answer form and example as metadata."""
    return Field(
        default=None,
        title=label,
        description=question,
        json_schema_extra={"form": form, "example": example},
        **constraints,
    )


# --- value types ------------------------------------------------------------------------------
# Each normaliser raises ValueError with a message that already says how to fix the answer.


def _text(value: Any) -> Any:
    """Free text; numbers become text (a product version such as 19.4 is text, not a number)."""
    if isinstance(value, bool):
        raise ValueError("expected text, not yes/no; put the answer in quotes if it is the word itself")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return value


def _text_or_no(value: Any) -> Any:
    """Text, or `no` (false) for "we do not have one"."""
    if value is False:
        return False
    if value is True:
        raise ValueError("give the name (or `no` if there is none), not just yes")
    return _text(value)


def _one_or_many(value: Any) -> Any:
    """A list; a single answer is accepted as a list of one."""
    return [value] if isinstance(value, str | int | float) and not isinstance(value, bool) else value


def _choice(aliases: dict[str, str]) -> Any:
    def normalise(value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            key = str(value).strip().lower().replace("_", "-")
            return aliases.get(key, str(value).strip())
        if value is False and "none" in aliases.values():
            return "none"
        return value

    return normalise


_VERSION = re.compile(r"^\d+(\.\d+){0,2}$", re.ASCII)


def _version(value: Any, aliases: dict[str, str] | None = None) -> Any:
    """A dotted version ("6.1.0"; 6.1 and "6.1" are padded to 6.1.0), or `no` for not supported."""
    if value is False:
        return False
    if value is True:
        raise ValueError("give the version (such as 2.0.0), or `no` if it is not supported")
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("expected a version such as 2.0.0")
    text = value.strip()
    if aliases and text.upper() in aliases:
        return aliases[text.upper()]
    if text[:1] in ("v", "V"):
        text = text[1:]
    if not _VERSION.match(text):
        raise ValueError(f"'{value}' is not a version; write it like 2.0.0")
    parts = text.split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


FHIR_RELEASES = {"DSTU2": "1.0.2", "STU3": "3.0.2", "R4": "4.0.1", "R4B": "4.3.0", "R5": "5.0.0"}


def _fhir_version(value: Any) -> Any:
    return _version(value, FHIR_RELEASES)


def _uscdi(value: Any) -> Any:
    """USCDI versions are named v1, v2, v3, v3.1 ...; 3 and "3" mean v3."""
    if value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.match(r"^[vV]?\d+(\.\d+)?$", value.strip()):
        raise ValueError(f"'{value}' is not a USCDI version; write it like v3")
    return "v" + value.strip().lstrip("vV")


CHPL_EXAMPLE = "15.04.04.1932.WebC.84.01.0.221117"


def _chpl_number(value: Any) -> Any:
    """The probes' own parser judges the number (one validator: `claims check` must refuse what
    `audit --claims` refuses; its own pattern let fullwidth digits through)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # YAML reads 15.04 as a number; judge the text the vendor typed
    if not isinstance(value, str):
        raise ValueError(f"expected a CHPL product number like {CHPL_EXAMPLE}")
    return str(parse_product_number(value))  # ValueError names the part and its form


def _cms_id(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9]{15}", value.strip()):
        raise ValueError(f"'{value}' is not a CMS EHR Certification ID: it has 15 letters and digits, like 0015H7CW6NF3QJD")
    return value.strip().upper()


_CRITERION = re.compile(r"^(?:170\.315\s*)?(\([a-h]\)\(\d{1,2}\)(?:\([ivx]+\))?)$", re.ASCII)


def _criterion(value: Any) -> Any:
    if not isinstance(value, str) or not _CRITERION.match(value.strip().lower().replace(" ", "")):
        raise ValueError(f"'{value}' is not a 2015 Edition criterion; write it like 170.315 (g)(10)")
    return "170.315 " + _CRITERION.match(value.strip().lower().replace(" ", ""))[1]  # type: ignore[index]


def _past_date(value: Any, info: ValidationInfo) -> Any:
    """A real calendar date, not after `today` (from the validation context) since it reports
    something that already happened."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"'{value}' is not a date; write it as YYYY-MM-DD, e.g. 2026-03-31")
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text} is not a real calendar date; check the month and day") from None
    if not isinstance(value, dt.date):
        raise ValueError("expected a date as YYYY-MM-DD, e.g. 2026-03-31")
    today = (info.context or {}).get("today")
    if isinstance(today, dt.date) and value > today:
        raise ValueError(f"{value.isoformat()} is in the future; give the date it actually happened")
    return value


def _url_or_no(value: Any) -> Any:
    if value is False:
        return False
    if isinstance(value, str) and re.match(r"^https?://[^\s/]+", value.strip()):
        return value.strip()
    raise ValueError(f"'{value}' is not a web address; write the full https:// link, or `no` if it is not published")


Text = Annotated[str, BeforeValidator(_text)]
TextOrNo = Annotated[str | bool, BeforeValidator(_text_or_no)]
TextList = Annotated[list[Annotated[str, BeforeValidator(_text)]], BeforeValidator(_one_or_many)]
Version = Annotated[str | bool, BeforeValidator(_version)]
FhirVersion = Annotated[str | bool, BeforeValidator(_fhir_version)]
UscdiVersion = Annotated[str | bool, BeforeValidator(_uscdi)]
ChplNumber = Annotated[str, BeforeValidator(_chpl_number)]
CmsId = Annotated[str, BeforeValidator(_cms_id)]
Criterion = Annotated[str, BeforeValidator(_criterion)]
PastDate = Annotated[dt.date, BeforeValidator(_past_date)]
UrlOrNo = Annotated[str | bool, BeforeValidator(_url_or_no)]
Hosting = Annotated[
    Literal["cloud", "on-premises", "hybrid"],
    BeforeValidator(
        _choice(
            {
                "cloud": "cloud",
                "saas": "cloud",
                "hosted": "cloud",
                "on-premises": "on-premises",
                "on-prem": "on-premises",
                "on premises": "on-premises",
                "hybrid": "hybrid",
            }
        )
    ),
]
Wcag = Annotated[
    Literal["A", "AA", "AAA", "none"],
    BeforeValidator(_choice({"a": "A", "aa": "AA", "aaa": "AAA", "none": "none"})),
]
Billing = Annotated[
    Literal["built-in", "interface", "none"],
    BeforeValidator(
        _choice(
            {"built-in": "built-in", "builtin": "built-in", "integrated": "built-in", "interface": "interface", "none": "none"}
        )
    ),
]
X12 = Annotated[
    Literal["837P", "837I", "837D", "835", "270", "271", "276", "277", "278"],
    BeforeValidator(
        _choice(
            {
                "837p": "837P",
                "837i": "837I",
                "837d": "837D",
                "837": "837P",
                "835": "835",
                "270": "270",
                "271": "271",
                "276": "276",
                "277": "277",
                "278": "278",
            }
        )
    ),
]
Soc2 = Annotated[
    Literal["Type 1", "Type 2", "none"],
    BeforeValidator(_choice({"type 1": "Type 1", "type i": "Type 1", "type 2": "Type 2", "type ii": "Type 2", "none": "none"})),
]
Hitrust = Annotated[
    Literal["e1", "i1", "r2", "none"],
    BeforeValidator(_choice({"e1": "e1", "i1": "i1", "r2": "r2", "none": "none"})),
]
TlsVersion = Annotated[
    Literal["1.0", "1.1", "1.2", "1.3"],
    BeforeValidator(
        _choice(
            {
                "1": "1.0",
                "1.0": "1.0",
                "tls 1.0": "1.0",
                "tlsv1.0": "1.0",
                "1.1": "1.1",
                "tls 1.1": "1.1",
                "tlsv1.1": "1.1",
                "1.2": "1.2",
                "tls 1.2": "1.2",
                "tlsv1.2": "1.2",
                "1.3": "1.3",
                "tls 1.3": "1.3",
                "tlsv1.3": "1.3",
            }
        )
    ),
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- sections ---------------------------------------------------------------------------------


class Product(Section):
    """The product, where it runs, and its CHPL listings."""

    vendor: Text | None = ask("Vendor", "The company that develops the product.", "text", "Summit Health Software, Inc.")
    product: Text | None = ask("Product", "The product's name as it appears on CHPL.", "text", "Summit Health Cloud")
    version: Text | None = ask("Version", "The version the practice would use.", "text", "2026.2")
    hosting: Hosting | None = ask("Hosting", "Where does the product run?", "one of: cloud, on-premises, hybrid", "cloud")
    chpl_product_numbers: list[ChplNumber] | None = ask(
        "CHPL product numbers",
        "The CHPL product number of every certified listing the practice would use.",
        "a list of CHPL numbers",
        [CHPL_EXAMPLE],
    )

    @field_validator("chpl_product_numbers", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _one_or_many(value)


class Certification(Section):
    """What the vendor says about its ONC certification (CHPL shows the truth)."""

    cms_ehr_certification_id: CmsId | None = ask(
        "CMS EHR Certification ID",
        "The CMS EHR Certification ID a practice reports for Promoting Interoperability.",
        "15 letters and digits",
        "0015H7CW6NF3QJD",
    )
    certified_criteria: list[Criterion] | None = ask(
        "Certified criteria",
        "The 2015 Edition Cures Update criteria the product is certified to.",
        "a list of criteria",
        ["170.315 (b)(10)", "170.315 (e)(1)", "170.315 (g)(10)"],
    )
    cures_update: bool | None = ask(
        "Cures Update", "Is the certification updated to the 2015 Edition Cures Update?", "yes or no", True
    )

    @field_validator("certified_criteria", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _one_or_many(value)


class Standards(Section):
    """The interoperability standards the product's API supports (no = not supported)."""

    fhir_version: FhirVersion | None = ask("FHIR version", "The FHIR version of the API.", "a version", "4.0.1")
    us_core: Version | None = ask(
        "US Core", "The US Core Implementation Guide version the API conforms to.", "a version, or no", "6.1.0"
    )
    smart_app_launch: Version | None = ask(
        "SMART App Launch", "The SMART App Launch version the authorization server implements.", "a version, or no", "2.0.0"
    )
    bulk_data: Version | None = ask(
        "Bulk Data", "The FHIR Bulk Data Access version for population-level export.", "a version, or no", "1.0.1"
    )
    uscdi: UscdiVersion | None = ask("USCDI", "The USCDI version whose data the API serves.", "a version, or no", "v3")


class Portal(Section):
    """The patient portal and patients' own apps."""

    offered: bool | None = ask("Patient portal", "Do patients get a web portal to their record?", "yes or no", True)
    view_download_transmit: bool | None = ask(
        "View, download, transmit",
        "Can patients view, download (human-readable and C-CDA) and transmit their record from the portal?",
        "yes or no",
        True,
    )
    access_within_business_days: int | None = ask(
        "Days until patients see new information",
        "Within how many business days do new results and notes reach the portal and patients' apps?",
        "a whole number of business days",
        1,
        ge=0,
    )
    secure_messaging: bool | None = ask("Secure messaging", "Can patients message the practice securely?", "yes or no", True)
    scheduling: bool | None = ask("Online scheduling", "Can patients book or request appointments online?", "yes or no", True)
    bill_pay: bool | None = ask("Online bill pay", "Can patients see and pay their bills online?", "yes or no", True)
    proxy_access: bool | None = ask(
        "Proxy access", "Can a parent or caregiver get their own login to a patient's record?", "yes or no", True
    )
    mobile_app: bool | None = ask("Mobile app", "Is there a patient mobile app (iOS and Android)?", "yes or no", True)
    languages: TextList | None = ask(
        "Portal languages", "The languages the portal is offered in.", "a list", ["English", "Spanish"]
    )
    wcag_level: Wcag | None = ask(
        "Accessibility (WCAG level)", "The WCAG conformance level the portal meets.", "one of: A, AA, AAA, none", "AA"
    )
    third_party_app_access: bool | None = ask(
        "Patients' own apps",
        "Can patients connect a health app of their choice to their record through the FHIR API, without staff help?",
        "yes or no",
        True,
    )


class Exchange(Section):
    """Sharing the chart with other providers, registries and pharmacies."""

    direct_messaging: bool | None = ask(
        "Direct secure messaging", "Can every clinician send and receive Direct secure messages?", "yes or no", True
    )
    direct_hisp: TextOrNo | None = ask(
        "Direct HISP", "The HISP that carries the product's Direct messages (no if none).", "a name, or no", "DataMotion"
    )
    ccda: bool | None = ask(
        "C-CDA documents", "Does the product send and receive C-CDA documents at transitions of care?", "yes or no", True
    )
    hie: TextList | None = ask(
        "HIE connections",
        "The health information exchanges the product connects to (an empty list if none).",
        "a list",
        ["CRISP"],
    )
    tefca_qhin: TextOrNo | None = ask(
        "TEFCA (QHIN)",
        "The QHIN through which the product takes part in TEFCA (no if it does not).",
        "a name, or no",
        "eHealth Exchange",
    )
    immunization_registry: bool | None = ask(
        "Immunization registry", "Does the product exchange immunizations with state registries (IIS)?", "yes or no", True
    )
    eprescribing: bool | None = ask("e-Prescribing", "Does the product send prescriptions electronically?", "yes or no", True)
    epcs: bool | None = ask(
        "EPCS", "Does it prescribe controlled substances electronically (EPCS, DEA-compliant)?", "yes or no", True
    )
    lab_interfaces: bool | None = ask(
        "Lab interfaces", "Are there electronic order and result interfaces with labs?", "yes or no", True
    )
    imaging_interfaces: bool | None = ask(
        "Imaging interfaces", "Are there electronic order and report interfaces with imaging centers?", "yes or no", True
    )
    adt_notifications: bool | None = ask(
        "ADT notifications",
        "Does the product send or receive admission, discharge and transfer (ADT) notifications?",
        "yes or no",
        True,
    )


class Reporting(Section):
    """Quality and compliance reporting."""

    ecqm: bool | None = ask(
        "eCQMs", "Does the product calculate and report electronic clinical quality measures?", "yes or no", True
    )
    mips: bool | None = ask(
        "MIPS reporting", "Can the practice report MIPS quality measures from the product?", "yes or no", True
    )
    promoting_interoperability: bool | None = ask(
        "Promoting Interoperability",
        "Does the product produce the Promoting Interoperability measure reports?",
        "yes or no",
        True,
    )
    population_health: bool | None = ask(
        "Population health", "Does it offer population health tools (registries, gaps in care, risk lists)?", "yes or no", True
    )
    registries: TextList | None = ask(
        "Registries", "Clinical or public health registries the product reports to.", "a list", ["state cancer registry"]
    )


class RevenueCycle(Section):
    """Billing and claims."""

    billing_integration: Billing | None = ask(
        "Billing",
        "Is billing built in, connected through an interface, or not offered?",
        "one of: built-in, interface, none",
        "built-in",
    )
    icd10: bool | None = ask("ICD-10 coding", "Does charting support ICD-10-CM diagnosis coding?", "yes or no", True)
    cpt: bool | None = ask("CPT coding", "Does charting support CPT/HCPCS procedure coding?", "yes or no", True)
    x12: list[X12] | None = ask(
        "X12 transactions",
        "The X12 transactions supported: 837P/837I claims, 835 remittance, 270/271 eligibility, 276/277 claim status.",
        "a list",
        ["837P", "835", "270", "271"],
    )

    @field_validator("x12", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _one_or_many(value)


class Hipaa(Section):
    """The vendor's HIPAA security program (it signs a BAA as the practice's business associate)."""

    baa_offered: bool | None = ask(
        "BAA offered", "Will you sign a Business Associate Agreement with the practice?", "yes or no", True
    )
    encryption_at_rest: bool | None = ask(
        "Encryption at rest", "Is patient data encrypted at rest, including backups?", "yes or no", True
    )
    encryption_at_rest_algorithm: Text | None = ask(
        "At-rest encryption algorithm", "Which algorithm and key length encrypt data at rest?", "text", "AES-256"
    )
    tls_minimum: TlsVersion | None = ask(
        "Minimum TLS version",
        "The oldest TLS version your API, portal and apps accept (encryption in transit).",
        "one of: 1.0, 1.1, 1.2, 1.3",
        "1.2",
    )
    mfa_users: bool | None = ask(
        "MFA for users", "Can the practice require multi-factor authentication for all users?", "yes or no", True
    )
    mfa_admins: bool | None = ask(
        "MFA for administrators", "Is multi-factor authentication enforced for administrators?", "yes or no", True
    )
    unique_user_ids: bool | None = ask(
        "Unique user IDs", "Does every person and system reach patient data only under its own identity?", "yes or no", True
    )
    automatic_logoff_minutes: int | None = ask(
        "Automatic logoff (minutes)",
        "After how many idle minutes are users logged off (0 if never)?",
        "a whole number of minutes",
        15,
        ge=0,
    )
    emergency_access: bool | None = ask(
        "Emergency access", "Is there a documented emergency ('break-glass') access procedure?", "yes or no", True
    )
    audit_log_retention_years: float | None = ask(
        "Audit-log retention (years)",
        "How many years are audit logs of access to patient data kept?",
        "a number of years",
        6,
        ge=0,
    )
    last_risk_analysis: PastDate | None = ask(
        "Last security risk analysis",
        "When did you last complete a HIPAA security risk analysis?",
        "a date, YYYY-MM-DD",
        "2026-02-15",
    )
    breach_notification_days: int | None = ask(
        "Breach notice (days)",
        "Within how many days of discovering a breach do you notify the practice?",
        "a whole number of days",
        10,
        ge=0,
    )
    breach_notification_process: Text | None = ask(
        "Breach-notification process",
        "How and by whom is the practice told of a breach?",
        "text",
        "Security officer calls and emails the practice's privacy officer.",
    )
    backups: bool | None = ask("Backups", "Is patient data backed up to a separate location?", "yes or no", True)
    disaster_recovery_plan: bool | None = ask(
        "Disaster recovery plan", "Is there a tested disaster recovery plan?", "yes or no", True
    )
    rpo_hours: float | None = ask(
        "RPO (hours)", "Recovery point objective: how many hours of data could be lost?", "a number of hours", 1, ge=0
    )
    rto_hours: float | None = ask(
        "RTO (hours)", "Recovery time objective: how many hours until service is restored?", "a number of hours", 4, ge=0
    )
    last_penetration_test: PastDate | None = ask(
        "Last penetration test", "When was the last independent penetration test?", "a date, YYYY-MM-DD", "2026-01-20"
    )
    soc2: Soc2 | None = ask(
        "SOC 2 report", "Which SOC 2 report is available under NDA?", "one of: Type 1, Type 2, none", "Type 2"
    )
    hitrust: Hitrust | None = ask(
        "HITRUST certification", "Which HITRUST certification is held?", "one of: e1, i1, r2, none", "r2"
    )
    workforce_training: bool | None = ask(
        "Workforce security training",
        "Does every workforce member get HIPAA security awareness training?",
        "yes or no",
        True,
    )


class InformationBlocking(Section):
    """Information blocking: API fees and public endpoints (45 CFR 171, 170.404)."""

    api_fees: bool | None = ask(
        "Fees for patient API access",
        "Do patients, their apps or the practice pay any fee when a patient connects an app to the record?",
        "yes or no",
        False,
    )
    service_base_urls: UrlOrNo | None = ask(
        "Service base URL list",
        "Where do you publish the FHIR service base URLs of all your customers (no if not published)?",
        "a web address, or no",
        "https://fhir.vendor.example/endpoints.json",
    )


SECTIONS: dict[str, type[Section]] = {
    "product": Product,
    "certification": Certification,
    "standards": Standards,
    "portal": Portal,
    "exchange": Exchange,
    "reporting": Reporting,
    "revenue_cycle": RevenueCycle,
    "hipaa": Hipaa,
    "information_blocking": InformationBlocking,
}


class Claims(BaseModel):
    """A vendor claims file. `claims_version` names the schema version the file was written for."""

    model_config = ConfigDict(extra="forbid", strict=True)

    claims_version: int = Field(title="Claims schema version", description="The claims schema version; always 1 for now.")
    product: Product | None = None
    certification: Certification | None = None
    standards: Standards | None = None
    portal: Portal | None = None
    exchange: Exchange | None = None
    reporting: Reporting | None = None
    revenue_cycle: RevenueCycle | None = None
    hipaa: Hipaa | None = None
    information_blocking: InformationBlocking | None = None

    @field_validator("claims_version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != CLAIMS_VERSION:
            raise ValueError(f"claims_version {value} is not supported by this ehrcheck, which reads version {CLAIMS_VERSION}")
        return value

    def to_evidence(self) -> dict[str, Any]:
        """The JSON form kept in the evidence: answered fields only, dates as ISO strings."""
        return self.model_dump(mode="json", exclude_none=True)


def field_info(path: str) -> Any:
    """The pydantic FieldInfo for a dotted claims path (`hipaa.baa_offered`, or with a leading
    `claims.`); None when the path is not in the schema."""
    parts = path.split(".")
    if parts and parts[0] == "claims":
        parts = parts[1:]
    if len(parts) != 2 or parts[0] not in SECTIONS:
        return None
    return SECTIONS[parts[0]].model_fields.get(parts[1])
