"""The platform's own Prometheus metrics: each process serves its registry on a port of its own
(``serve``), the API times its routes (``http``), workers expose their progress (``workers``), job runs
are counted (``jobs``), and the scheduler reports what only the store knows: consumer lag, heartbeats,
firing alerts, the outbox (``platform``)."""
