"""Test helpers for the registry source: a real registry, a token server and a fault proxy (loopback only)."""
