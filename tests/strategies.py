"""Hypothesis strategies for Herald's request bodies, valid enough to reach past validation into
the handlers: events and batches, people, segment definitions (the property tests' own), templates
with merge fields, campaigns naming real segments and templates, suppressions, transactional
email and Segment's messages. The fuzzing pass (tests/fuzzing.py) mixes them with what
schemathesis generates from the OpenAPI document; each strategy is named by the request body's
component in that document.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from tests.test_segments_property import NOWS, group

Json = Any
Strategy = st.SearchStrategy[Json]


@dataclass
class Seeds:
    """Ids of rows made before fuzzing, so that generated requests can name real ones."""

    profile_ids: list[str] = field(default_factory=list)
    segment_ids: list[str] = field(default_factory=list)
    template_ids: list[str] = field(default_factory=list)
    campaign_ids: list[str] = field(default_factory=list)
    suppression_ids: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    provider_ids: list[str] = field(default_factory=list)
    flow_ids: list[str] = field(default_factory=list)
    enrolment_ids: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    block_ids: list[str] = field(default_factory=list)
    sms_template_ids: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)

    def for_parameter(self, name: str) -> list[str]:
        """Real ids for a path parameter (`profile_id`, `segment_id`, ...)."""
        return list(getattr(self, f"{name.removesuffix('_id')}_ids", []))


# Text as people and scripts send it: mostly plain, sometimes anything Hypothesis can make
# (NUL and other control characters included: Herald must refuse what it cannot store).
words = st.sampled_from(["gold", "Ana", "Berlin", "shoes", "Émile", "🎉 sale", "a b", "x" * 40])
texts = st.one_of(words, words, st.text(max_size=30))
names = st.one_of(words, st.text(min_size=1, max_size=40))
metric_names = st.sampled_from(["Placed Order", "Viewed Product", "Added to Cart", "Opened Email"])
scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, 12.5, -0.25, 1e6, 2**53]),
    st.booleans(),
    st.none(),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(words, children, max_size=3)
    ),
    max_leaves=8,
)
properties = st.dictionaries(st.one_of(words, st.text(min_size=1, max_size=12)), json_values)


def emails(seeds: Seeds) -> Strategy:
    made = st.from_regex(r"[a-z]{1,10}(\.[a-z]{1,5})?@(example\.com|shop\.example)", fullmatch=True)
    known = st.sampled_from(seeds.emails) if seeds.emails else made
    return st.one_of(made, known, st.sampled_from(["A@Example.COM", "not-an-email", ""]))


# Naive bounds, as Hypothesis wants them; the times drawn carry UTC.
times = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001
    max_value=datetime(2027, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.isoformat())
phones = st.sampled_from(["+4915112345678", "+16502530000", "030 1234567", "12"])
timezones = st.sampled_from(["Europe/Berlin", "America/New_York", "UTC", "Mars/Base"])


def optional(strategy: Strategy) -> Strategy:
    """A value or the key left out (see `compact`)."""
    return st.one_of(st.just(None), strategy)


def compact(body: dict[str, Json]) -> dict[str, Json]:
    return {key: value for key, value in body.items() if value is not None}


def profile_reference(seeds: Seeds) -> Strategy:
    return st.one_of(
        st.fixed_dictionaries({"email": emails(seeds)}),
        st.fixed_dictionaries({"external_id": st.sampled_from(["u-1", "u-2", "42"])}),
        st.fixed_dictionaries({"anonymous_id": st.uuids().map(str)}),
        st.fixed_dictionaries({"phone": phones}),
        *(
            [st.fixed_dictionaries({"id": st.sampled_from(seeds.profile_ids)})]
            * bool(seeds.profile_ids)
        ),
    )


def track_event(seeds: Seeds) -> Strategy:
    return st.builds(
        lambda event, profile, props, value, time, unique_id: compact(
            {
                "event": event,
                "profile": profile,
                "properties": props,
                "value": value,
                "time": time,
                "unique_id": unique_id,
            }
        ),
        st.one_of(metric_names, names),
        profile_reference(seeds),
        properties,
        optional(st.sampled_from([0, 9.99, 120, -5])),
        optional(times),
        optional(st.uuids().map(str)),
    )


def person(seeds: Seeds) -> Strategy:
    """The fields of IdentifyRequest, ProfileCreate and ProfileUpdate."""
    location = st.fixed_dictionaries(
        {},
        optional={
            "city": texts,
            "country": st.sampled_from(["DE", "US", "France"]),
            "latitude": st.floats(-90, 90),
            "longitude": st.floats(-180, 180),
        },
    )
    return st.fixed_dictionaries(
        {"email": emails(seeds)},
        optional={
            "first_name": texts,
            "last_name": texts,
            "phone": phones,
            "external_id": st.sampled_from(["u-1", "u-2", "42"]),
            "timezone": timezones,
            "properties": properties,
            "location": location,
        },
    )


def definitions(seeds: Seeds) -> Strategy:
    """Segment definitions as the segment property tests draw them, referring to real segments."""

    @st.composite
    def draw_definition(draw: Callable[[Strategy], Json]) -> dict[str, Json]:
        now = draw(st.sampled_from(NOWS))
        segment_ids = [uuid.UUID(value) for value in seeds.segment_ids]
        return group(draw, now, segment_ids, depth=1, min_size=1)

    return draw_definition()


MJML = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ profile.first_name | default('there') }}"
    "{% if event.value %}, {{ event.value }}{% endif %}</mj-text><mj-button href="
    '"https://shop.example.com/?id={{ profile.id }}">Shop</mj-button>'
    '<mj-text>{{ organization.postal_address }} <a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    "</mj-text></mj-column></mj-section></mj-body></mjml>"
)
HTML = (
    "<p>Hello {{ profile.email }} {{ data.code }}</p><a href='https://example.com/a'>a</a>"
    "<p>{{ organization.postal_address }} <a href='{{ preferences_url }}'>Preferences</a></p>"
)
# Sandbox probes: Herald must answer them as template errors, never run them.
PROBES = ["{{ ''.__class__.__mro__ }}", "{% for x in range(10**9) %}{% endfor %}", "{{ x * }}"]


def template_fields() -> dict[str, Strategy]:
    return {
        "name": names,
        "subject": st.one_of(st.just("Hi {{ profile.first_name }}"), texts),
        "body": st.one_of(st.just(MJML), st.just(HTML), st.sampled_from(PROBES), texts),
        "body_format": st.sampled_from(["mjml", "html"]),
        "kind": st.sampled_from(["marketing", "transactional"]),
    }


def template_create() -> Strategy:
    fields = template_fields()
    required = {key: fields[key] for key in ("name", "subject", "body")}
    optional_fields = {key: fields[key] for key in ("body_format", "kind")}
    # A body's format should usually match it.
    return st.one_of(
        st.fixed_dictionaries(
            {**required, "body": st.just(MJML)}, optional={"kind": fields["kind"]}
        ).map(lambda body: {**body, "body_format": "mjml"}),
        st.fixed_dictionaries(required, optional=optional_fields),
    )


def template_update() -> Strategy:
    return st.fixed_dictionaries({}, optional=template_fields())


def template_preview(seeds: Seeds) -> Strategy:
    sample = st.fixed_dictionaries(
        {},
        optional={"profile": properties, "event": properties, "data": properties},
    )
    extra: dict[str, Strategy] = {
        "sample": sample,
        "body_format": st.sampled_from(["mjml", "html"]),
    }
    if seeds.profile_ids:
        extra["profile_id"] = st.sampled_from(seeds.profile_ids)
    return st.fixed_dictionaries(
        {"body": st.one_of(st.just(MJML), st.just(HTML), st.sampled_from(PROBES))}, optional=extra
    )


def campaign(seeds: Seeds, *, create: bool) -> Strategy:
    segments = st.lists(st.sampled_from(seeds.segment_ids or [str(uuid.uuid4())]), max_size=2)
    fields: dict[str, Strategy] = {
        "include_segment_ids": segments,
        "exclude_segment_ids": segments,
        "subject": texts,
        "smart_sending": st.booleans(),
        "send_time_optimization": st.booleans(),
        "conversion_metric": metric_names,
    }
    if seeds.template_ids:
        fields["template_id"] = st.sampled_from(seeds.template_ids)
    if create:
        return st.fixed_dictionaries({"name": names}, optional=fields)
    return st.fixed_dictionaries({}, optional={"name": names, **fields})


def suppression(seeds: Seeds) -> Strategy:
    return st.fixed_dictionaries(
        {"address": st.one_of(emails(seeds), phones)},
        optional={
            "channel": st.sampled_from(["email", "sms"]),
            "reason": st.sampled_from(["manual", "unsubscribe", "hard_bounce", "import"]),
        },
    )


def send_email(seeds: Seeds) -> Strategy:
    recipient = st.one_of(
        st.fixed_dictionaries({"email": emails(seeds)}),
        *(
            [st.fixed_dictionaries({"profile_id": st.sampled_from(seeds.profile_ids)})]
            * bool(seeds.profile_ids)
        ),
    )
    content: dict[str, Strategy] = {"subject": texts, "html": st.just(HTML), "data": properties}
    if seeds.template_ids:
        content["template_id"] = st.sampled_from(seeds.template_ids)
    return st.fixed_dictionaries(
        {"to": recipient}, optional={**content, "marketing": st.booleans()}
    )


def segment_message(seeds: Seeds, call: str | None = None) -> Strategy:
    """A Segment (analytics.js) message of one call, or of any when `call` is None."""
    user = st.fixed_dictionaries(
        {}, optional={"userId": st.sampled_from(["u-1", "u-2"]), "anonymousId": st.uuids().map(str)}
    )
    by_call: dict[str, Strategy] = {
        "track": st.fixed_dictionaries(
            {"event": st.one_of(metric_names, names)}, optional={"properties": properties}
        ),
        "identify": st.fixed_dictionaries(
            {},
            optional={
                "traits": st.fixed_dictionaries({"email": emails(seeds)}, optional={"plan": words})
            },
        ),
        "page": st.fixed_dictionaries({}, optional={"name": names, "properties": properties}),
        "screen": st.fixed_dictionaries({}, optional={"name": names, "properties": properties}),
        "group": st.fixed_dictionaries({"groupId": words}, optional={"traits": properties}),
        "alias": st.fixed_dictionaries({"previousId": st.uuids().map(str)}),
    }
    calls = [call] if call else sorted(by_call)

    @st.composite
    def message(draw: Callable[[Strategy], Json]) -> dict[str, Json]:
        chosen = draw(st.sampled_from(calls))
        body = {**draw(user), **draw(by_call[chosen])}
        if chosen == "alias":
            body["userId"] = body.get("userId", "u-1")
        if call is None:
            body["type"] = chosen
        if draw(st.booleans()):
            body["messageId"] = str(draw(st.uuids()))
            body["timestamp"] = draw(times)
        return body

    return message()


def bodies(seeds: Seeds) -> dict[str, Strategy]:
    """Strategies by request body: the component's name, or the path for Segment's calls."""
    people = person(seeds)
    definition = definitions(seeds)
    strategies: dict[str, Strategy] = {
        "TrackEvent": track_event(seeds),
        "TrackBatch": st.fixed_dictionaries(
            {"events": st.lists(track_event(seeds), min_size=1, max_size=5)}
        ),
        "IdentifyRequest": people,
        "ProfileCreate": people,
        "ProfileUpdate": people,
        "SegmentCreate": st.fixed_dictionaries({"name": names, "definition": definition}),
        "SegmentUpdate": st.fixed_dictionaries(
            {}, optional={"name": names, "definition": definition}
        ),
        "EstimateRequest": st.fixed_dictionaries({"definition": definition}),
        "TemplateCreate": template_create(),
        "TemplateUpdate": template_update(),
        "TemplatePreviewRequest": template_preview(seeds),
        "CampaignCreate": campaign(seeds, create=True),
        "CampaignUpdate": campaign(seeds, create=False),
        "AudienceRequest": campaign(seeds, create=False).map(
            lambda body: {
                "include_segment_ids": body.get("include_segment_ids", seeds.segment_ids[:1])
            }
        ),
        "SuppressionCreate": suppression(seeds),
        "SuppressionBulk": st.fixed_dictionaries(
            {"suppressions": st.lists(suppression(seeds), min_size=1, max_size=4)}
        ),
        "SendEmailRequest": send_email(seeds),
        # The tests' DNS server (tests/conftest.py) answers every lookup at once.
        "DnsCheckRequest": st.fixed_dictionaries(
            {"domain": st.sampled_from(["acme.example", "news.acme.example", "Shop.Example."])}
        ),
        "/v1/batch": st.fixed_dictionaries(
            {"batch": st.lists(segment_message(seeds), min_size=1, max_size=4)}
        ),
    }
    for call in ("track", "identify", "page", "screen", "group", "alias"):
        strategies[f"/v1/{call}"] = segment_message(seeds, call)
    return strategies
