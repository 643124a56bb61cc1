"""Tests of ml.monitoring."""
