"""Issue 2, the foundation: settings, plugin host, app assembly and storage."""
