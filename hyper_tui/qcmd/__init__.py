"""The PBS/LSF-style job commands: qsub, qstat, qdel, qlog, qrls. Lean: stdlib only."""
