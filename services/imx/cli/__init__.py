"""The ``imx`` command line (CONTRACT.md section 7)."""
