"""A toy interactive kernel with subshell threads."""
