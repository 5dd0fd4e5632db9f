"""Videos longer than one render: a plan of chunks (`plan.py`) kept in the record, each chunk
continuing the previous one's latents, checkpointed in storage (`checkpoint.py`) and streamed
into one encoder (`runner.py`)."""
