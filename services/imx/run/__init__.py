"""The main job on one machine (``imx run``): broker, topics, worker, simulator, live view."""
