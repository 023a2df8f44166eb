"""The window's views: each shows the document or plain data and talks through signals."""
