"""Load generators and measurements: ``load`` (the hall, the baseline, the workload),
``queue`` (``make bench-queue``), ``stages`` (``make bench``) and ``flat`` (a ticket's cost
as the day grows, in a process of its own)."""
