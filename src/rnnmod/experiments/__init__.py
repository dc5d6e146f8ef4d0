"""Reproduction experiments (RQ1-RQ3) and the paper's published numbers."""
