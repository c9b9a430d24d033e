"""The revisable transcript: its state, file formats, writers and the console view."""
