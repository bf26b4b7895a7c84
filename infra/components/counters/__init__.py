"""The counters: a Lambda on the jobs table's stream keeping per-queue job counts."""
