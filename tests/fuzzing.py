"""Fuzzing (run by tests/test_fuzz_*.py): every operation of the OpenAPI document, whatever it
holds when the test runs, with requests schemathesis generates (valid and invalid for the
schema) and requests made of Herald's own body strategies (tests/strategies.py) naming real
rows, as a secret key and as a public key, on both databases. Any 5xx, or an answer that breaks
its documented schema, fails the test.

Bounded for CI (a few minutes in all on two cores): `HERALD_FUZZ_EXAMPLES` (default 5, down
from 8 when flows, SMS, providers and analytics doubled the operations) requests per operation
and source of requests, the same ones each run (derandomized) unless
`HERALD_FUZZ_RANDOM=1`. A longer local hunt: `HERALD_FUZZ_EXAMPLES=200 HERALD_FUZZ_RANDOM=1`.
The share of requests that got past validation (answered neither 400 nor 422) is printed per
source of requests and asserted for Herald's strategies, so that they keep reaching handlers.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from herald.db import get_database
from herald.models import OrganizationRateLimits
from herald.ratelimit import policy
from tests.factories import OrgFixture, make_org, make_user
from tests.flows.api import delayed_api_flow
from tests.strategies import Seeds, bodies

EXAMPLES = int(os.environ.get("HERALD_FUZZ_EXAMPLES", "5"))
RANDOM = os.environ.get("HERALD_FUZZ_RANDOM") == "1"
VALIDATION = {400, 422}
CHECKS = [not_a_server_error, response_schema_conformance]
# Operations whose answers depend on who asks, not on what is sent: still fuzzed, fewer times.
AUTH_REFUSED = {401, 403}


@dataclass
class Tally:
    """Answers by source of the request: schemathesis' valid or invalid data, or Herald's."""

    answers: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def count(self, source: str, status: int) -> None:
        self.answers.setdefault(source, Counter())[status] += 1

    def past_validation(self, source: str) -> tuple[int, int]:
        """Requests that got past validation, of those the credential may make."""
        statuses = self.answers.get(source, Counter())
        allowed = sum(n for status, n in statuses.items() if status not in AUTH_REFUSED)
        passed = sum(n for status, n in statuses.items() if status not in VALIDATION | AUTH_REFUSED)
        return passed, allowed


def _raise_limits(org: OrgFixture) -> None:
    """The fuzzing organization's owner raised its limits to the ceilings: hundreds of requests
    a second from one key are the point here, and 429s would hide the handlers."""
    with get_database().transaction() as session:
        session.add(
            OrganizationRateLimits(
                org_id=org.org_id,
                **{
                    policy.column(kind, level, period): policy.ceiling(kind, period)
                    for kind in policy.KINDS
                    for level in policy.LEVELS
                    for period in policy.PERIODS
                },
            )
        )
    policy.forget_org_limits()


def seed(client: TestClient, org: OrgFixture) -> Seeds:
    """A few rows of each kind, made through the API, for requests to name."""
    headers = org.secret_headers
    seeds = Seeds(emails=["ana@example.com", "bo@example.com"])
    for email in seeds.emails:
        response = client.post("/api/profiles", json={"email": email}, headers=headers)
        seeds.profile_ids.append(response.json()["id"])
        client.post(
            "/api/track",
            json={"event": "Placed Order", "profile": {"email": email}, "value": 10},
            headers=org.public_headers,
        )
    definition = {"conditions": [{"type": "profile", "field": "email", "operator": "is_set"}]}
    segment = client.post(
        "/api/segments", json={"name": "Everyone", "definition": definition}, headers=headers
    ).json()
    seeds.segment_ids.append(segment["id"])
    template = client.post(
        "/api/templates",
        json={
            "name": "T",
            "subject": "Hi",
            "body": "<p>{{ unsubscribe_url }} {{ organization.postal_address }}</p>",
            "body_format": "html",
        },
        headers=headers,
    ).json()
    seeds.template_ids.append(template["id"])
    campaign = client.post(
        "/api/campaigns",
        json={"name": "C", "template_id": template["id"], "include_segment_ids": [segment["id"]]},
        headers=headers,
    ).json()
    seeds.campaign_ids.append(campaign["id"])
    suppression = client.post(
        "/api/suppressions", json={"address": "gone@example.com"}, headers=headers
    ).json()
    seeds.suppression_ids.append(suppression["id"])
    email, _ = make_user(org, "member")
    users = client.get("/api/users", headers=headers).json()["data"]
    seeds.user_ids.extend(u["id"] for u in users if u["email"] == email)
    imported = client.post(
        "/api/imports/profiles",
        files={"file": ("people.csv", b"email\nimported@example.com\n", "text/csv")},
        headers=headers,
    )
    seeds.job_ids.append(imported.json()["id"])
    # A key of its own to name: revoking the one the requests are sent with would end the run.
    spare = client.post(
        "/api/api-keys", json={"name": "spare", "kind": "secret"}, headers=headers
    ).json()
    seeds.key_ids.append(spare["id"])
    # An outbox entry of the provider list: checking or resetting it calls nothing outside.
    provider = client.post(
        "/api/email/providers", json={"kind": "outbox", "label": "Outbox"}, headers=headers
    ).json()
    seeds.provider_ids.append(provider["id"])
    sent = client.post(
        "/api/messages/email",
        json={"to": {"email": "ana@example.com"}, "subject": "S", "html": "<p>x</p>"},
        headers=headers,
    )
    if sent.status_code < 300:
        seeds.message_ids.append(sent.json()["id"])
    sms_template = client.post(
        "/api/sms/templates",
        json={"name": "Welcome", "body": "Hi {{ profile.first_name | default('there') }}"},
        headers=headers,
    ).json()
    seeds.sms_template_ids.append(sms_template["id"])
    _seed_flows(client, org, seeds, template["id"])
    _seed_library(client, org, seeds)
    return seeds


# The smallest PNG there is: one transparent pixel.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def _seed_library(client: TestClient, org: OrgFixture, seeds: Seeds) -> None:
    headers = org.secret_headers
    image = client.post(
        "/api/images", files={"file": ("pixel.png", PIXEL_PNG, "image/png")}, headers=headers
    )
    seeds.image_ids.append(image.json()["id"])
    block = client.post(
        "/api/template-blocks",
        json={"name": "B", "mjml": "<mj-section><mj-column></mj-column></mj-section>"},
        headers=headers,
    )
    seeds.block_ids.append(block.json()["id"])


def _seed_flows(client: TestClient, org: OrgFixture, seeds: Seeds, template_id: str) -> None:
    """A live flow entered through the API, with one enrolment waiting on its delay, and a
    draft made from a flow template."""
    headers = org.secret_headers
    definition = delayed_api_flow(template_id)
    flow = client.post(
        "/api/flows", json={"name": "F", "definition": definition}, headers=headers
    ).json()
    client.post(f"/api/flows/{flow['id']}/publish", headers=headers)
    enrolled = client.post(
        f"/api/flows/{flow['id']}/enrol",
        json={"profile": {"email": seeds.emails[0]}, "payload": {"total": 5}},
        headers=headers,
    )
    seeds.flow_ids.append(flow["id"])
    if enrolled.status_code < 300 and enrolled.json()["enrolment_id"]:
        seeds.enrolment_ids.append(enrolled.json()["enrolment_id"])
    draft = client.post(
        "/api/flows/from-template", json={"template": "abandoned_cart"}, headers=headers
    ).json()
    seeds.flow_ids.append(draft["id"])


def _herald_case(operation: Any, seeds: Seeds, strategies: dict[str, Any]) -> Any | None:
    """Cases of this operation with real ids in its path and, for a body Herald has a strategy
    for, such a body; None when there is nothing of Herald's to add."""
    raw = operation.definition.raw
    content = raw.get("requestBody", {}).get("content", {}).get("application/json", {})
    component = content.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
    body = strategies.get(component, strategies.get(operation.path))
    parameters = [p["name"] for p in raw.get("parameters", []) if p.get("in") == "path"]
    real = {name: seeds.for_parameter(name) for name in parameters}
    if body is None and not any(real.values()):
        return None
    base = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)

    @st.composite
    def cases(draw: Callable[[Any], Any]) -> Any:
        case = draw(base)
        for name, values in real.items():
            if values and draw(st.integers(0, 4)):
                case.path_parameters[name] = draw(st.sampled_from(values))
        if body is not None:
            case.body = draw(body)
            case.media_type = "application/json"
        return case

    return cases()


def _fuzz_operation(
    operation: Any, headers: dict[str, str], seeds: Seeds, strategies: dict[str, Any], tally: Tally
) -> None:
    sources: list[Any] = [
        operation.as_strategy(generation_mode=mode).map(lambda case, m=mode: (m.value, case))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    herald = _herald_case(operation, seeds, strategies)
    if herald is not None:
        # Twice the weight: these are the requests that reach the handlers.
        sources += [herald.map(lambda case: ("herald", case))] * 2
    failed: list[str] = []

    @settings(
        max_examples=EXAMPLES * len(sources),
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(*sources))
    def run(tagged: tuple[str, Any]) -> None:
        source, case = tagged
        if failed:
            return  # one failure per operation is enough to report
        try:
            response = case.call(headers=headers)
            tally.count(source, response.status_code)
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # a check failing, or the app raising (a 500)
            failed.append(
                f"{operation.label} ({source}): {type(exc).__name__}: {str(exc)[:1500]}\n"
                f"    {case.as_curl_command(headers=headers)[:2000]}"
            )

    try:
        run()
    except Exception as exc:  # generation itself failing is a finding about the document
        failed.append(f"{operation.label}: could not generate requests: {exc!r}"[:2000])
    tally.failures.extend(failed)


def fuzz_every_operation(app: FastAPI, client: TestClient, credential: str) -> None:
    """Fuzz the whole document as the organization's secret or public key; fail on findings."""
    org = make_org()
    _raise_limits(org)
    seeds = seed(client, org)
    headers = org.secret_headers if credential == "secret" else org.public_headers
    strategies = bodies(seeds)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tally = Tally()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        _fuzz_operation(operation, headers, seeds, strategies, tally)

    lines = [f"fuzzed {operations} operations as a {credential} key, {EXAMPLES} examples each:"]
    for source in sorted(tally.answers):
        passed, allowed = tally.past_validation(source)
        total = sum(tally.answers[source].values())
        share = passed / allowed if allowed else 0.0
        succeeded = sum(n for status, n in tally.answers[source].items() if status < 300)
        lines.append(
            f"  {source}: {total} requests, {allowed} allowed for this key, {share:.0%} of "
            f"those past validation, {succeeded / total:.0%} of all answered 2xx; "
            f"{dict(sorted(tally.answers[source].items()))}"
        )
    print("\n".join(lines), file=sys.stderr)
    assert operations >= 90, "the document lost operations"
    assert not tally.failures, "\n\n".join(tally.failures)
    if credential == "secret":
        passed, allowed = tally.past_validation("herald")
        assert passed / allowed >= 0.6, "\n".join(lines)
