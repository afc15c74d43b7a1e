"""One wiring module per process: where the parts are built, connected and started.

These are the only production modules that import across the stages (store, ingest, detection, risk,
alerts, API); the stages below them never import each other sideways or import this package
(``tests/spine/test_layering.py`` checks it). ``resilience/cli/commands.py`` parses a command line and calls
one of these ``main`` functions.

- ``api_process``: the FastAPI app under uvicorn.
- ``ingest_process``: the MQTT ingest worker.
- ``detector_process``: the detection worker on the hand-off.
- ``engine_process``: the risk and alert consumers, their jobs, the dispatcher (``resilience alerts``: no risk).
- ``dispatcher_process``: the outbox dispatcher alone.
- ``scheduler_process``: store upkeep, platform watch, broker accounts, nightly model fits.
- ``supervisor``: ``resilience run``, every process above with the local servers and the simulator.
"""
