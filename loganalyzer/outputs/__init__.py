"""What people read: tables, CSV/JSON/Markdown/Parquet, charts and the briefing."""
