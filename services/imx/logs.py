"""structlog set-up: JSON lines for services and pipes, readable console output on a terminal."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, client_errors: bool = True
) -> None:
    """Route structlog and the standard library (faust, aiokafka) through one renderer on stderr.

    ``json=None`` decides by whether stderr is a terminal, so a person at a terminal reads plain
    lines and anything collecting logs gets one JSON object per line. ``client_errors=False``
    silences the Kafka client's own error lines: a command that turns every failure into one
    line of its own ("imx: publishing to … failed: …") would otherwise print it twice.
    """
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka reports every coordinator re-discovery at INFO/ERROR; it is noise at our level.
    quietest = logging.WARNING if client_errors else logging.CRITICAL
    logging.getLogger("aiokafka").setLevel(max(root.level, quietest))
