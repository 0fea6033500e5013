"""Parity: how closely an engine's outputs match the reference engine's, and the verdict."""
