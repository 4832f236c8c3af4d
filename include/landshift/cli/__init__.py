"""The `landshift` command: a door into the library, like dags/ and plugins/ (no logic of its own)."""
