"""Pricing machinery shared by the simulator and the options domain."""
