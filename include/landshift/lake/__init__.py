"""Layer 1: the data lake behind one interface (local folder or ADLS Gen2), lake URIs and atomic publishing."""
