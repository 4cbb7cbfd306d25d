"""Configuration: settings from the environment (`settings`) and key material (`keys`).

Infrastructure: imports nothing of MIA but `shared.logging` and `shared.numbers`.
"""
