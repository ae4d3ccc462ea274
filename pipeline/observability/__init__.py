"""Metrics, structured logs and traces: what an operator watches wapipe with."""
