"""Delivery: the outbox, what each target receives, and the channels that carry it."""
