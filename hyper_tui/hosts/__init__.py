"""The host contract (``contract``), the registry of hosts and kinds (``registry``), creating
hosts (``create``) and the one log-follow loop (``follow``). Importing the package is free:
``qsub`` reaches ``registry`` through it."""
