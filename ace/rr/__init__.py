"""The Recursive Reflector."""
