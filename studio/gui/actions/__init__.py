"""What the window does when asked: each acts on the document and the views, off the GUI thread where slow."""
