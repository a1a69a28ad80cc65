"""Flow definitions: what the graph checks refuse, and that each error names its step and field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from herald.errors import InvalidInput
from herald.flows.definition import parse_definition

TEMPLATE = str(uuid.uuid4())


def abandoned_cart() -> dict[str, Any]:
    return {
        "trigger": {"type": "metric", "metric": "Started Checkout"},
        "filters": {
            "conditions": [
                {
                    "type": "event",
                    "metric": "Placed Order",
                    "operator": "exactly",
                    "value": 0,
                    "window": {"type": "since_flow_start"},
                }
            ]
        },
        "reentry": {"mode": "once_per_period", "period": {"amount": 30, "unit": "days"}},
        "start": "wait",
        "steps": [
            {
                "id": "wait",
                "type": "delay",
                "delay": {"amount": 4, "unit": "hours"},
                "outputs": {"next": "email"},
            },
            {
                "id": "email",
                "type": "send_email",
                "email": {"template_id": TEMPLATE},
                "outputs": {"next": None},
            },
        ],
    }


def problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_definition(raw)
    return {f.field: f.reason for f in caught.value.fields}


def test_a_valid_flow_parses_and_keeps_its_steps() -> None:
    definition = parse_definition(abandoned_cart())
    assert definition.start == "wait"
    assert [s.type for s in definition.steps] == ["delay", "send_email"]
    assert definition.filters is not None
    assert definition.reentry.period is not None and definition.reentry.period.seconds == 30 * 86400


def test_errors_name_the_step_and_field_without_union_tags() -> None:
    raw = abandoned_cart()
    raw["steps"][0]["delay"]["amount"] = 0
    raw["trigger"]["filters"] = [{"property": "total", "operator": "greater_than"}]
    found = problems(raw)
    assert "definition.steps[0].delay.amount" in found
    assert found["definition.trigger.filters[0]"] == "greater_than needs `value`"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            lambda r: r["steps"][0]["outputs"].pop("next"),
            "definition.steps[0].outputs.next",
            "missing",
        ),
        (
            lambda r: r["steps"][0]["outputs"].update(next="nowhere"),
            "definition.steps[0].outputs.next",
            "no step has the id 'nowhere'",
        ),
        (
            lambda r: r["steps"][1]["outputs"].update(next="wait"),
            "definition.steps[1].outputs",
            "loop",
        ),
        (
            lambda r: r["steps"].append({"id": "orphan", "type": "exit"}),
            "definition.steps[2]",
            "unreachable",
        ),
        (
            lambda r: r["steps"].append({"id": "wait", "type": "exit"}),
            "definition.steps[2].id",
            "used twice",
        ),
        (lambda r: r.update(start="nowhere"), "definition.start", "no step"),
        (
            lambda r: r["steps"][0]["outputs"].update(yes=None),
            "definition.steps[0].outputs.yes",
            "no such output",
        ),
    ],
)
def test_graph_problems_are_refused(change: Any, field: str, reason: str) -> None:
    raw = abandoned_cart()
    change(raw)
    found = problems(raw)
    assert field in found, found
    assert reason in found[field]


def test_a_trigger_split_needs_a_trigger_with_properties() -> None:
    raw = abandoned_cart()
    raw["trigger"] = {"type": "segment_entered", "segment_id": str(uuid.uuid4())}
    raw["steps"][0] = {
        "id": "wait",
        "type": "trigger_split",
        "filters": [{"property": "total", "operator": "greater_than", "value": 100}],
        "outputs": {"yes": "email", "no": None},
    }
    assert "trigger split" in problems(raw)["definition.steps[0].type"]


def test_a_segment_refuses_the_flow_start_window() -> None:
    from herald.segments.service import parse_definition as parse_segment

    with pytest.raises(InvalidInput) as caught:
        parse_segment(abandoned_cart()["filters"])
    assert "flow" in caught.value.fields[0].reason
