"""Settings → Email's DNS check: the sending domain's SPF, DKIM and DMARC records, looked up
through a DNS server on loopback (tests/fakes/dns.py) and compared with what each provider of
the list and Herald's own DKIM key need."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from herald.email import dns as dns_check
from herald.outbound import allow_networks
from herald.settings import get_settings
from tests.factories import OrgFixture, make_org, make_user, sign_in
from tests.fakes.dns import FakeDns
from tests.fakes.ses import DKIM_TOKENS, FakeSes
from tests.test_email_failover import add_provider
from tests.test_email_sending import _rsa_pem

DOMAIN = "acme.example"
SES_TOKENS = ["abcdef0123456789abcdef0123456789", "bbbbbb0123456789abcdef0123456789"]
SPF_ALL = "v=spf1 include:amazonses.com include:sendgrid.net include:spf.mtasv.net ~all"


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDns]:
    with FakeDns() as server:
        monkeypatch.setenv("HERALD_DNS_SERVERS", server.server)
        get_settings.cache_clear()
        yield server


def set_up(client: TestClient) -> tuple[OrgFixture, str]:
    """An organization sending from acme.example with its own DKIM key and three providers."""
    org = make_org()
    pem = _rsa_pem()
    body = {
        "default_from_email": f"shop@{DOMAIN}",
        "postal_address": "1 Main St",
        "dkim_domain": DOMAIN,
        "dkim_selector": "herald1",
        "dkim_private_key": pem,
    }
    saved = client.put("/api/email/settings", json=body, headers=org.secret_headers)
    assert saved.status_code == 200, saved.text
    add_provider(
        client,
        org,
        kind="ses",
        label="SES",
        config={
            "region": "eu-west-1",
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": "secret",
            "dkim_tokens": SES_TOKENS,
        },
    )
    add_provider(client, org, kind="sendgrid", label="SendGrid", config={"api_key": "SG.key"})
    add_provider(
        client,
        org,
        kind="postmark",
        label="Postmark",
        config={"server_token": "token", "dkim_selector": "20240101000000pm"},
    )
    return org, saved.json()["dkim_record"]["value"]


def publish_all(server: FakeDns, dkim_value: str) -> None:
    server.txt(DOMAIN, SPF_ALL, "google-site-verification=abc")
    server.txt(f"herald1._domainkey.{DOMAIN}", dkim_value)
    server.cname(f"s1._domainkey.{DOMAIN}", "s1.domainkey.u123.wl.sendgrid.net")
    server.cname(f"s2._domainkey.{DOMAIN}", "s2.domainkey.u123.wl.sendgrid.net")
    for token in SES_TOKENS:
        server.cname(f"{token}._domainkey.{DOMAIN}", f"{token}.dkim.amazonses.com")
    server.txt(f"20240101000000pm._domainkey.{DOMAIN}", "k=rsa;p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCB")
    server.txt(f"_dmarc.{DOMAIN}", f"v=DMARC1; p=quarantine; rua=mailto:d@{DOMAIN}")


def check(client: TestClient, org: OrgFixture, **body: Any) -> dict[str, Any]:
    response = client.post("/api/email/dns-check", json=body, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {(r["name"]): r for r in result["records"]}


def test_every_record_published_as_the_providers_need_is_ok(
    client: TestClient, fake_dns: FakeDns
) -> None:
    org, dkim_value = set_up(client)
    publish_all(fake_dns, dkim_value)
    result = check(client, org)
    assert result["domain"] == DOMAIN
    records = by_name(result)
    assert {r["status"] for r in result["records"]} == {"ok"}, result
    assert [(r["purpose"], r["provider"], r["type"]) for r in result["records"]] == [
        ("spf", None, "TXT"),
        ("dkim", "Herald", "TXT"),
        ("dkim", "SES", "CNAME"),
        ("dkim", "SES", "CNAME"),
        ("dkim", "SendGrid", "CNAME"),
        ("dkim", "SendGrid", "CNAME"),
        ("dkim", "Postmark", "TXT"),
        ("dmarc", None, "TXT"),
    ]
    assert records[DOMAIN]["found"] == [SPF_ALL]  # the other TXT record is not SPF
    # The 2048-bit key's record is longer than one DNS string: it was split, and joined again.
    assert records[f"herald1._domainkey.{DOMAIN}"]["found"] == [dkim_value]
    assert records[f"_dmarc.{DOMAIN}"]["detail"] == "policy quarantine"


def test_missing_and_wrong_records_say_what_to_publish(
    client: TestClient, fake_dns: FakeDns
) -> None:
    org, dkim_value = set_up(client)
    publish_all(fake_dns, dkim_value)
    fake_dns.txt(DOMAIN, "v=spf1 mx include:sendgrid.net -all")
    other_key = _rsa_pem()
    saved = client.put(
        "/api/email/settings",
        json={
            "default_from_email": f"shop@{DOMAIN}",
            "postal_address": "1 Main St",
            "dkim_domain": DOMAIN,
            "dkim_selector": "herald1",
            "dkim_private_key": other_key,
        },
        headers=org.secret_headers,
    )
    assert saved.status_code == 200
    new_value = saved.json()["dkim_record"]["value"]
    del fake_dns.records[(f"s2._domainkey.{DOMAIN}", "CNAME")]
    fake_dns.cname(f"{SES_TOKENS[0]}._domainkey.{DOMAIN}", "elsewhere.example")
    del fake_dns.records[(f"_dmarc.{DOMAIN}", "TXT")]

    records = by_name(check(client, org))
    spf = records[DOMAIN]
    assert spf["status"] == "wrong"
    assert spf["expected"] == (
        "v=spf1 mx include:sendgrid.net include:amazonses.com include:spf.mtasv.net -all"
    )
    assert "amazonses.com" in spf["detail"] and "spf.mtasv.net" in spf["detail"]
    own = records[f"herald1._domainkey.{DOMAIN}"]
    assert own["status"] == "wrong" and own["expected"] == new_value
    assert own["found"] == [dkim_value]
    assert records[f"s1._domainkey.{DOMAIN}"]["status"] == "ok"
    assert records[f"s2._domainkey.{DOMAIN}"]["status"] == "missing"
    ses = records[f"{SES_TOKENS[0]}._domainkey.{DOMAIN}"]
    assert ses["status"] == "wrong" and ses["found"] == ["elsewhere.example"]
    assert ses["expected"] == f"{SES_TOKENS[0]}.dkim.amazonses.com"
    dmarc = records[f"_dmarc.{DOMAIN}"]
    assert dmarc["status"] == "missing" and dmarc["expected"].startswith("v=DMARC1; p=none")

    # Two SPF records are an error for receivers, whatever they say.
    fake_dns.txt(DOMAIN, SPF_ALL, "v=spf1 -all")
    spf = by_name(check(client, org))[DOMAIN]
    assert spf["status"] == "wrong" and "more than one" in spf["detail"]


def test_nothing_published_and_a_silent_server(
    client: TestClient, fake_dns: FakeDns, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, _value = set_up(client)
    result = check(client, org, domain="Other.Example.")
    assert result["domain"] == "other.example"
    statuses = {r["name"]: r["status"] for r in result["records"]}
    assert statuses["other.example"] == "missing"
    assert statuses["_dmarc.other.example"] == "missing"
    assert statuses["s1._domainkey.other.example"] == "missing"
    assert (
        by_name(result)["other.example"]["expected"]
        == "v=spf1 include:amazonses.com include:sendgrid.net include:spf.mtasv.net ~all"
    )

    monkeypatch.setattr(dns_check, "LIFETIME", 0.3)
    fake_dns.silent = True
    result = check(client, org)
    assert {r["status"] for r in result["records"]} == {"unknown"}
    assert by_name(result)[DOMAIN]["detail"] == "DNS did not answer"


def test_providers_without_their_dkim_selectors_are_unknown(
    client: TestClient, fake_dns: FakeDns
) -> None:
    org = make_org()
    client.put(
        "/api/email/settings",
        json={"default_from_email": f"shop@{DOMAIN}"},
        headers=org.secret_headers,
    )
    with socket.socket() as unused:  # SES cannot be asked for its tokens: nothing listens
        unused.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with allow_networks("127.0.0.0/8"):
        add_provider(
            client,
            org,
            kind="ses",
            label="SES",
            config={
                "region": "eu-west-1",
                "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "secret_access_key": "s",
                "endpoint_url": endpoint,
            },
        )
        add_provider(client, org, kind="postmark", label="PM", config={"server_token": "t"})
        fake_dns.txt(DOMAIN, "v=spf1 include:amazonses.com include:spf.mtasv.net ~all")
        records = check(client, org)["records"]
    assert [(r["provider"], r["status"]) for r in records if r["purpose"] == "dkim"] == [
        ("SES", "unknown"),
        ("PM", "unknown"),
    ]
    assert "Easy DKIM tokens" in records[1]["detail"]
    assert records[0]["status"] == "ok"


def test_bad_input_and_who_may_check(client: TestClient, fake_dns: FakeDns) -> None:
    org = make_org()
    # No default sender and no domain named.
    response = client.post("/api/email/dns-check", json={}, headers=org.secret_headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "domain"
    for bad in ("not a domain", "-x.example", "a" * 300, "localhost"):
        response = client.post(
            "/api/email/dns-check", json={"domain": bad}, headers=org.secret_headers
        )
        assert response.status_code == 422, bad
        assert response.json()["error"]["fields"][0]["field"] == "domain"
    response = client.post(
        "/api/email/dns-check", json={"domain": DOMAIN, "extra": 1}, headers=org.secret_headers
    )
    assert response.status_code == 422
    email, password = make_user(org, role="member")
    member = {"X-CSRF-Token": sign_in(client, email, password)}
    response = client.post("/api/email/dns-check", json={"domain": DOMAIN}, headers=member)
    assert response.status_code == 403
    assert fake_dns.questions == []


def test_ses_is_asked_for_its_dkim_tokens_when_its_settings_lack_them(
    client: TestClient, fake_dns: FakeDns
) -> None:
    org = make_org()
    client.put(
        "/api/email/settings",
        json={"default_from_email": f"shop@{DOMAIN}"},
        headers=org.secret_headers,
    )
    with FakeSes() as ses, allow_networks("127.0.0.0/8"):
        add_provider(
            client,
            org,
            kind="ses",
            label="SES",
            config={
                "region": "eu-west-1",
                "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "secret_access_key": "s",
                "endpoint_url": ses.url,
            },
        )
        fake_dns.cname(
            f"{DKIM_TOKENS[0]}._domainkey.{DOMAIN}", f"{DKIM_TOKENS[0]}.dkim.amazonses.com"
        )
        records = check(client, org)["records"]
    dkim = [(r["name"], r["status"]) for r in records if r["purpose"] == "dkim"]
    assert dkim == [
        (f"{DKIM_TOKENS[0]}._domainkey.{DOMAIN}", "ok"),
        (f"{DKIM_TOKENS[1]}._domainkey.{DOMAIN}", "missing"),
    ]
