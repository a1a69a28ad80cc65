"""The flow templates: each is a valid flow, and the abandoned cart is the one the issue names."""

from __future__ import annotations

from herald.flows.definition import dump, parse_definition, validate_graph
from herald.flows.library import UNCHOSEN, library, library_flow


def test_every_template_is_a_valid_graph_and_survives_a_round_trip() -> None:
    flows = library()
    assert [f.key for f in flows] == [
        "welcome_series",
        "abandoned_cart",
        "browse_abandonment",
        "post_purchase",
        "win_back",
        "birthday",
    ]
    for flow in flows:
        assert validate_graph(flow.definition) == [], flow.key
        assert parse_definition(dump(flow.definition)) == flow.definition
        assert flow.name and flow.description


def test_email_steps_leave_their_template_to_be_chosen() -> None:
    for flow in library():
        emails = [s for s in flow.definition.steps if s.type == "send_email"]
        assert emails, flow.key
        assert {s.email.template_id for s in emails} == {UNCHOSEN}


def test_the_abandoned_cart_waits_4_hours_then_emails_twice_unless_an_order_came() -> None:
    flow = library_flow("abandoned_cart")
    assert flow is not None
    definition = flow.definition
    assert definition.trigger.type == "metric"
    assert definition.trigger.metric == "Started Checkout"
    path = []
    step_id = definition.start
    while step_id is not None:
        step = definition.step(step_id)
        path.append(
            (step.type, step.delay.amount, step.delay.unit) if step.type == "delay" else step.type
        )
        step_id = step.outputs.get("next")
    assert path == [("delay", 4, "hours"), "send_email", ("delay", 20, "hours"), "send_email"]
    assert definition.filters is not None
    (condition,) = definition.filters.conditions
    assert condition.type == "event" and condition.metric == "Placed Order"
    assert (condition.operator, condition.value) == ("exactly", 0)
    assert condition.window.type == "since_flow_start"


def test_the_birthday_flow_runs_on_a_date_property_every_year() -> None:
    flow = library_flow("birthday")
    assert flow is not None
    trigger = flow.definition.trigger
    assert trigger.type == "date_property"
    assert (trigger.property, trigger.recurrence, trigger.time_of_day) == (
        "birthday",
        "yearly",
        "09:00",
    )


def test_an_unknown_key_is_none() -> None:
    assert library_flow("nope") is None
