"""The platform looking after itself: broker accounts, its own health judgement, and the project-local
PostgreSQL and Mosquitto that tests and the demo start for real."""
