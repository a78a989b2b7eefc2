"""The data every layer shares: settings, units, the CEGI formula, records and windows, the run file."""
