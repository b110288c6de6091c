"""GLOF hazard of tracked lakes: configurable criteria, terrain analysis and an explained, ranked score."""
