"""Periodic maintenance of the events table."""

from __future__ import annotations
