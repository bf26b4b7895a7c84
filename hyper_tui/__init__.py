"""hyper-tui: a high-throughput job scheduler for very many short jobs, local or on AWS."""

__version__ = "0.1.0"
