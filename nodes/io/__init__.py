"""Sources and sinks that talk to the outside world: recordings, devices."""
