"""Risk spectrum (issue 4): hazard x place risk from live evidence, for the emergency operations centre.

Layers, bottom up: ``hazards`` (what can go wrong where, as data), ``config`` (grade boundaries and
the 5x5 matrix), ``coupling`` (coupled-hazard rules and the BallTree neighbourhood graph), ``model``
(the estimator: likelihood x consequence per asset and hazard, with factors and explanations),
``aggregate`` (district / city roll-ups), ``series`` and ``repository`` / ``store`` (what is kept and
where), ``service`` (the running, incremental spectrum on the event bus), ``cli`` (the benchmark).
"""
