"""Benchmarks: the bot's own cost next to the model's, side by side with a bare floor bot.

`python -m bench` (or `make bench`) runs every benchmark on loopback fakes in separate processes
and writes `bench/RESULTS.md`; `python -m bench --quick` runs each one once with tiny sizes.
"""
