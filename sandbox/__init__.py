"""An isolated Python kernel for running untrusted code over untrusted data."""
