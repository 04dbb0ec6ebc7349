"""Test fixtures shared by integration and system tests."""
