"""End-to-end tests: a real airflow standalone driven through REST API v2 and a headless browser."""
