"""LandShift's Airflow-side glue: the lake hook over connections, Spark submission helpers, run helpers."""
