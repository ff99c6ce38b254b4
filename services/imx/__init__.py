"""imx — event-streaming information exchange backbone."""
