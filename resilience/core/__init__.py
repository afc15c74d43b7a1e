"""The core vocabulary every stage shares: levels, hazards and kinds, the event interface, the data
clock, settings, logging, messages in the reader's language and the cached registry view. It imports
nothing else of the platform."""
