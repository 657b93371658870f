"""Cost per component: what runs consumed (CPU, memory, bytes, provider requests) and what the
lake and warehouse keep, priced by the home's price sheet and grouped by dataset, asset or
component."""
