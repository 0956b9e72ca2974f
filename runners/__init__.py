"""Runners: everything with side effects (state writes now; Ray, DVC, torch, Serve as apply lands).

Heavy libraries are imported inside the functions that need them, never at package import.
"""
