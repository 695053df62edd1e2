"""Code shared by the tutorials: small mode, data, exercise checks."""
