"""Worker process: claims queued commands and runs them against venues."""
