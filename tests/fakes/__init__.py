"""Fake provider servers on loopback that speak each provider's documented HTTP protocol,
with faults to inject (throttling, 5xx, invalid addresses, suspended accounts, hangs)."""
