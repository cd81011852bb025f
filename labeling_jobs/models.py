"""Labeling jobs (LLM-as-judge, Monte-Carlo rollouts, consensus) arrive with their issue."""
