"""The reproduction report (Markdown + self-contained HTML with figures)."""
