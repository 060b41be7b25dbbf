"""A caching reverse proxy in front of one publisher, like AEM's dispatcher."""
