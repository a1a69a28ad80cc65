"""The fuzzing pass (tests/fuzzing.py) as a public key, on both databases."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.fuzzing import fuzz_every_operation


def test_every_operation_answers_a_public_key_without_5xx_and_as_documented(
    app: FastAPI, client: TestClient
) -> None:
    fuzz_every_operation(app, client, "public")
