"""What a run leaves on disk and how it is read back: checkpoints (safetensors plus a JSON
sidecar), the run directory (recipe, metrics log, lock, --force's move-aside), loading a
trained run's networks, and portable model folders. Nothing here trains."""
