"""The revisions, oldest first: 0001 (tenants, playbooks as rows, history, learn jobs),
0002 (full-text ranking indexes and skill embeddings)."""
