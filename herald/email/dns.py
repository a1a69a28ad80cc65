"""The sending domain's published SPF, DKIM and DMARC records, looked up in DNS and compared with
what the organization's providers need (Settings → Email, "Check DNS"; docs/email.md).

Each record comes out as ok, missing, wrong (with the value to publish) or unknown (DNS could not
be asked). What each provider needs:

- SPF (TXT at the domain): one `v=spf1` record that includes each API provider's SPF domain
  (SES `amazonses.com`, SendGrid `sendgrid.net`, Postmark `spf.mtasv.net`). Only the record's own
  mechanisms are read; includes are not followed.
- DKIM: Herald's own key (Settings → Email, DKIM signing) as TXT at `<selector>._domainkey`;
  SendGrid's CNAMEs `s1` and `s2` into sendgrid.net; SES's Easy DKIM CNAMEs, one per token of
  the provider's `dkim_tokens`; Postmark's TXT at the provider's `dkim_selector`.
- DMARC (TXT at `_dmarc.<domain>`): one `v=DMARC1` record with a policy.

The resolver is the system's unless HERALD_DNS_SERVERS names servers (`host` or `host:port`,
comma-separated): a resolver of the install's choice, or a test's server on loopback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from herald.email import mime
from herald.settings import get_settings

Status = Literal["ok", "missing", "wrong", "unknown"]
# How long one lookup may take in all (each server, each try).
LIFETIME = 4.0
SPF_INCLUDES = {"ses": "amazonses.com", "sendgrid": "sendgrid.net", "postmark": "spf.mtasv.net"}
SENDGRID_SELECTORS = ("s1", "s2")
SES_DKIM_TARGET = "dkim.amazonses.com"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Record:
    purpose: Literal["spf", "dkim", "dmarc"]
    provider: str | None  # the provider (its label) the record is for; None: the domain's own
    name: str
    type: Literal["TXT", "CNAME"]
    status: Status
    expected: str
    found: list[str]
    detail: str


@dataclass(frozen=True)
class Sender:
    """A provider the domain sends through: its label, kind and (decrypted) settings."""

    label: str
    kind: str
    config: dict[str, Any]


def valid_domain(value: str) -> bool:
    return bool(_HOSTNAME.match(value.strip().lower().rstrip(".")))


def resolver() -> dns.resolver.Resolver:
    servers = [s.strip() for s in get_settings().dns_servers.split(",") if s.strip()]
    if not servers:
        found = dns.resolver.Resolver()
    else:
        found = dns.resolver.Resolver(configure=False)
        found.nameservers = [s.rsplit(":", 1)[0] if _has_port(s) else s for s in servers]
        found.port = int(servers[0].rsplit(":", 1)[1]) if _has_port(servers[0]) else 53
    found.lifetime = LIFETIME
    found.timeout = LIFETIME / 2
    return found


def _has_port(server: str) -> bool:
    return ":" in server and server.rsplit(":", 1)[1].isdigit() and server.count(":") == 1


def lookup(ask: dns.resolver.Resolver, name: str, rdtype: str) -> list[str] | None:
    """The record values at `name` ([] when there are none), or None when DNS did not answer.
    A TXT record's strings are joined, as receivers read them."""
    try:
        answer = ask.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError):
        return None
    values = []
    for rdata in answer.rrset or []:
        if rdata.rdtype == dns.rdatatype.TXT:
            values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
        elif rdata.rdtype == dns.rdatatype.CNAME:
            values.append(rdata.target.to_text(omit_final_dot=True).lower())
    return values


def check(
    domain: str,
    senders: Sequence[Sender],
    dkim_key: mime.DkimKey | None,
    ask: dns.resolver.Resolver | None = None,
) -> list[Record]:
    """The domain's records, each compared with what the senders (and Herald's own DKIM key)
    need."""
    ask = ask or resolver()
    domain = domain.strip().lower().rstrip(".")
    records = [_spf(ask, domain, senders)]
    if dkim_key is not None:
        records.append(_own_dkim(ask, dkim_key))
    for sender in senders:
        records.extend(_provider_dkim(ask, domain, sender))
    records.append(_dmarc(ask, domain))
    return records


def _spf(ask: dns.resolver.Resolver, domain: str, senders: Sequence[Sender]) -> Record:
    needed = list(dict.fromkeys(SPF_INCLUDES[s.kind] for s in senders if s.kind in SPF_INCLUDES))
    found = lookup(ask, domain, "TXT")
    spf = [v for v in found or [] if v.lower().startswith("v=spf1")]
    fresh = " ".join(["v=spf1", *(f"include:{n}" for n in needed), "~all"])
    if not needed:
        fresh = "v=spf1 include:<your SMTP relay's SPF domain> ~all"

    def record(status: Status, expected: str, detail: str) -> Record:
        return Record("spf", None, domain, "TXT", status, expected, spf, detail)

    if found is None:
        return record("unknown", fresh, "DNS did not answer")
    if not spf:
        return record("missing", fresh, "no SPF record: publish one")
    if len(spf) > 1:
        return record(
            "wrong", _with_includes(spf[0], needed), "more than one SPF record: merge them into one"
        )
    terms = spf[0].lower().split()
    absent = [n for n in needed if f"include:{n}" not in terms and f"+include:{n}" not in terms]
    if absent:
        return record(
            "wrong",
            _with_includes(spf[0], absent),
            "it does not include " + ", ".join(absent),
        )
    return record("ok", spf[0], "includes every provider's SPF domain" if needed else "present")


def _with_includes(spf: str, includes: Sequence[str]) -> str:
    """The record with these includes added before its `all` (or `redirect`) term."""
    terms = spf.split()
    at = next(
        (
            i
            for i, term in enumerate(terms)
            if term.lstrip("+-~?").lower() == "all" or term.lower().startswith("redirect=")
        ),
        len(terms),
    )
    have = {t.lower() for t in terms}
    extra = [f"include:{n}" for n in includes if f"include:{n}" not in have]
    return " ".join(terms[:at] + extra + terms[at:])


def _public_key(value: str) -> str | None:
    tags = dict(
        (part.split("=", 1)[0].strip().lower(), part.split("=", 1)[1])
        for part in value.split(";")
        if "=" in part
    )
    key = tags.get("p")
    return re.sub(r"\s+", "", key) if key is not None else None


def _own_dkim(ask: dns.resolver.Resolver, key: mime.DkimKey) -> Record:
    name = f"{key.selector}._domainkey.{key.domain}"
    expected = mime.dkim_dns_value(key.private_key_pem)
    found = lookup(ask, name, "TXT")

    def record(status: Status, detail: str) -> Record:
        return Record("dkim", "Herald", name, "TXT", status, expected, found or [], detail)

    if found is None:
        return record("unknown", "DNS did not answer")
    keys = [v for v in found if _public_key(v) is not None]
    if not keys:
        return record("missing", "no DKIM record for Herald's signing key: publish it")
    if _public_key(expected) in {_public_key(v) for v in keys}:
        return record("ok", "the published key is Herald's signing key")
    return record("wrong", "the published key is not Herald's signing key (p= differs)")


def _provider_dkim(ask: dns.resolver.Resolver, domain: str, sender: Sender) -> list[Record]:
    if sender.kind == "sendgrid":
        return [
            _cname(
                ask,
                sender,
                f"{selector}._domainkey.{domain}",
                lambda target: target.endswith(".sendgrid.net"),
                f"{selector}.domainkey.u<account>.wl<n>.sendgrid.net (SendGrid shows it under "
                "Settings → Sender Authentication)",
            )
            for selector in SENDGRID_SELECTORS
        ]
    if sender.kind == "ses":
        tokens = [str(t).strip().lower() for t in sender.config.get("dkim_tokens") or []]
        if not tokens:
            return [
                Record(
                    "dkim",
                    sender.label,
                    f"<token>._domainkey.{domain}",
                    "CNAME",
                    "unknown",
                    f"<token>.{SES_DKIM_TARGET}",
                    [],
                    "add the Easy DKIM tokens SES shows for the domain to this provider's "
                    "settings to check its three CNAME records",
                )
            ]
        return [
            _cname(
                ask,
                sender,
                f"{token}._domainkey.{domain}",
                lambda target, token=token: target == f"{token}.{SES_DKIM_TARGET}",
                f"{token}.{SES_DKIM_TARGET}",
            )
            for token in tokens
        ]
    if sender.kind == "postmark":
        selector = str(sender.config.get("dkim_selector") or "").strip()
        if not selector:
            return [
                Record(
                    "dkim",
                    sender.label,
                    f"<selector>._domainkey.{domain}",
                    "TXT",
                    "unknown",
                    "k=rsa; p=… (Postmark shows it under Sender Signatures → DNS settings)",
                    [],
                    "add the DKIM selector Postmark shows (like 20240101000000pm) to this "
                    "provider's settings to check its record",
                )
            ]
        name = f"{selector}._domainkey.{domain}"
        found = lookup(ask, name, "TXT")
        expected = "k=rsa; p=… (the value Postmark shows for this selector)"
        status: Status
        if found is None:
            status, detail = "unknown", "DNS did not answer"
        elif not found:
            status, detail = "missing", "no record at Postmark's DKIM selector: publish it"
        elif any(_public_key(v) for v in found):
            status, detail = "ok", "a DKIM key is published at Postmark's selector"
        else:
            status, detail = "wrong", "the record holds no DKIM key (p=)"
        return [Record("dkim", sender.label, name, "TXT", status, expected, found or [], detail)]
    return []


def _cname(
    ask: dns.resolver.Resolver,
    sender: Sender,
    name: str,
    matches: Any,
    expected: str,
) -> Record:
    found = lookup(ask, name, "CNAME")
    status: Status
    if found is None:
        status, detail = "unknown", "DNS did not answer"
    elif not found:
        status, detail = "missing", f"no CNAME record for {sender.label}'s DKIM key: publish it"
    elif any(matches(target) for target in found):
        status, detail = "ok", f"points at {sender.label}'s DKIM key"
    else:
        status, detail = "wrong", f"points elsewhere than {sender.label}'s DKIM key"
    return Record("dkim", sender.label, name, "CNAME", status, expected, found or [], detail)


def _dmarc(ask: dns.resolver.Resolver, domain: str) -> Record:
    name = f"_dmarc.{domain}"
    expected = f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}"
    found = lookup(ask, name, "TXT")
    dmarc = [v for v in found or [] if v.replace(" ", "").lower().startswith("v=dmarc1")]

    def record(status: Status, detail: str) -> Record:
        return Record("dmarc", None, name, "TXT", status, expected, dmarc, detail)

    if found is None:
        return record("unknown", "DNS did not answer")
    if not dmarc:
        return record("missing", "no DMARC record: publish one (start with p=none, to monitor)")
    if len(dmarc) > 1:
        return record("wrong", "more than one DMARC record: receivers ignore them all")
    policy = re.search(r"(?:^|;)\s*p\s*=\s*(none|quarantine|reject)\s*(?:;|$)", dmarc[0], re.I)
    if policy is None:
        return record("wrong", "the record names no policy (p=none, quarantine or reject)")
    return record("ok", f"policy {policy.group(1).lower()}")
