"""GLOF early warnings: alert levels from hazard and change, and Common Alerting Protocol 1.2 messages."""
