"""The revisions, oldest first: 0001 (tenants, playbooks as rows, history, learn jobs),
0002 (full-text ranking indexes and skill embeddings), 0003 (API keys), 0004 (the
learning loop's trajectories, memories and evidence), 0005 (the full-text indexes of 0002
dropped: ranking is done in process)."""
