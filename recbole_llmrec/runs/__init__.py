"""Training runs: ``pipeline.build`` (config -> dataset -> splits -> model -> trainer), the trainer and
its checkpoints, run files and locks, resuming, the end-of-run summary, zero-shot transfer and
``quick_start.run`` (the API behind ``run_recbole_llmrec.py``)."""
