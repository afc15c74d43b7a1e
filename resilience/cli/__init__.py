"""The command line: the ``resilience`` entry point (:mod:`resilience.cli.main`) and the sub-commands
that are neither a stage's own nor a bench (services' processes, API keys, back-tests)."""
