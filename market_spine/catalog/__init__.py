"""The dataset catalog: its vocabulary (what a dataset is), the registry gathering every domain's
entries, live facts read from the lake and the warehouse, and the entries as Dagster metadata."""
