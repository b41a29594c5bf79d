"""The shared kernel: what every Antre service needs, and nothing else."""
