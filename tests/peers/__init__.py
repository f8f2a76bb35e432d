"""Builders for the peer comparisons: real images made by real tools (umoci, skopeo) from
real Debian package content, and the small images shipped in ``tests/data``."""
