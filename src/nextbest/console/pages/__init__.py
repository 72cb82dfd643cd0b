"""One module per console page (or a few close pages); each owns one ``router``."""
