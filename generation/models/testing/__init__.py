"""The test families (tiny, random weights, hub-faithful repos); production uses only `tiny`."""
