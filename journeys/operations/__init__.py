"""Operator actions: where a customer is in each journey and cancelling one, erasure, A/B results."""
