"""Realistic synthetic reports from the LOCAL units (``imx simulate``, ``imx run``)."""
