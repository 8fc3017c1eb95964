"""`fledge bench`: Fledge's trainer side by side with the tutorial loop and with the
hardware ceiling, on the same device, model, image size, batch size and epochs.

core.bench.data writes the photo-sized JPEGs it trains on, core.bench.phases measures
(each phase in its own Python process, so that peak memory figures belong to it alone
and no phase warms a cache for the next), core.bench.command runs them and prints the table.
"""
