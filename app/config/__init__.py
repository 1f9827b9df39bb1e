"""The app's configuration: the settings read from the environment, and the delivery and lease
arithmetic the infrastructure shares (both light to import: the synth loads them)."""
