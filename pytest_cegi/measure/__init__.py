"""Measurement: the `cegi` fixture, the session, meters, calibration, xdist."""
