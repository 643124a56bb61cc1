"""Strategies that turn model outputs into target positions (see ARCHITECTURE.md)."""
