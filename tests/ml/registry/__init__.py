"""Tests of ml.registry."""
