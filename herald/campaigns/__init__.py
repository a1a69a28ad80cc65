"""Campaigns: one email to an audience, sent exactly once to each eligible recipient."""
