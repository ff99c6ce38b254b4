"""The cuttable loopback link of ``imx bench outbox``, for the outbox's outage tests."""

from imx.bench.link import Link, link_to

__all__ = ["Link", "link_to"]
