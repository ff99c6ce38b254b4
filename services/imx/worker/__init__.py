"""The stream-processing worker: the faust app and its agents."""
