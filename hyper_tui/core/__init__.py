"""The host-neutral core: job states and types, lifecycle rules, the scaling decision and the
submission builder. Standard library only, no I/O: every host kind and the qsub hot path use it."""
