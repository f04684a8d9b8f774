"""A toy OPC UA server core."""
