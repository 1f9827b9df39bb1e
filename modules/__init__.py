"""Copyable CDK Terrain constructs, one self-contained file per infrastructure layer."""
