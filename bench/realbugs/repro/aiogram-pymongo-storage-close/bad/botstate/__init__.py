"""State storage backends of a chat bot."""
