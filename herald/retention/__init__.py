"""Retention: each organization's raw events and message bodies pruned after its chosen age."""
