"""ACE: agents that learn from their own execution traces."""
